"""Chest X-ray: dataset readers (torchxrayvision's layouts and 18 pathologies) and XRV preprocessing."""
