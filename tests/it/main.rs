mod tokenize;
