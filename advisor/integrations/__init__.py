"""Callbacks for training libraries, each an optional extra: `pip install advisor[fastai]`,
`advisor[lightning]`. Importing advisor never imports them."""
