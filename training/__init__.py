"""Training side of Inspector (torch, timm): fits models that `export` turns into bundles."""
