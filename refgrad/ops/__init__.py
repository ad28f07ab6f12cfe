"""Operations: the op table (derivatives.py) and the machinery that applies an entry."""
