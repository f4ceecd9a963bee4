"""The demo: the manual's two- (or three-) station example as real station databases."""
