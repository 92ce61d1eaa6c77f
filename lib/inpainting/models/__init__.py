"""Models: the generators, discriminators, perceptual network and the :class:`Inpainter` wrapper, and
a trained generator's file.

Contract: docs/CONVENTIONS.md ("Models"). Architectures and their labels: docs/method.md §2-4, 8.4.
"""
from .context_encoder import ContextEncoder, ContextEncoderDiscriminator
from .discriminator import GlobalLocalDiscriminator, local_patch
from .generator import Generator, composite, generator_input, lite_generator, masked, wide_generator
from .glcic import glcic_generator
from .inpainter import Inpainter, build_discriminator, build_generator, build_inpainter, check_inputs
from .loading import ModelFileError, load_inpainter, read_generator, save_generator
from .perceptual import PerceptualNetwork

__all__ = [
    "ContextEncoder", "ContextEncoderDiscriminator", "GlobalLocalDiscriminator", "Generator",
    "Inpainter", "PerceptualNetwork", "build_discriminator", "build_generator", "build_inpainter",
    "ModelFileError", "check_inputs", "composite", "generator_input", "glcic_generator",
    "lite_generator", "load_inpainter", "local_patch", "masked", "read_generator", "save_generator",
    "wide_generator",
]
