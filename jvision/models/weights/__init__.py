"""Weight import from files the user already has: Keras applications checkpoints and torchvision state dicts.

Nothing is downloaded. Each importer renames the source's parameters into jvision's names, converts layouts
(OIHW -> HWIO, [out, in] -> [in, out]) and hands the flat dict to ``assign.assign_variables``, which refuses
unknown names, missing names and shape mismatches with a message naming the parameter.
"""
