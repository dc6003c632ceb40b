mod segment;
