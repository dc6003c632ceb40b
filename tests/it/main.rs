mod hub;
mod support;
