"""The researcher's commands: complete your own images, export the kit's benchmark, score anyone's
completions under the kit's protocol, and export a trained generator to ONNX."""
