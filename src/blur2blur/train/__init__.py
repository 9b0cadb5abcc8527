"""Training: one shared loop (:mod:`.loop`) and one small module per trainable thing.

* :mod:`.loop` - device, DDP, mixed precision, checkpoints/resume, logging, NaN checks;
* :mod:`.schedules` - learning-rate schedules as functions of the step;
* :mod:`.extractor` - the blur-kernel extractor F (KernelWizard);
* :mod:`.translator` - the blur translator G against the known-blur set K (with its discriminator).
"""
