"""Reports of results: figures (data + drawing), files written next to them."""
