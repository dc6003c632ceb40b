
mod tokenize;
