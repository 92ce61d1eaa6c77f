"""Architecture analysis (notebook 02): layer tables from the modules, receptive fields, the figure."""
import pytest
import torch
from torch import nn

from inpainting.teaching.architecture import (architecture_figure, count_parameters, generator_layers,
                                     gradient_receptive_field, layer_shapes, receptive_field_table)
from inpainting.models import PerceptualNetwork, build_discriminator, build_generator
from inpainting.profiles import ModelConfig


@pytest.mark.parametrize("name", ["lite", "wide", "glcic"])
def test_generator_layers_account_for_every_parameter(name):
    g = build_generator(name, 64)
    table = generator_layers(g, 64)
    assert table["parameters"].sum() == count_parameters(g)
    assert table["out_shape"].iloc[-1] == "3 x 64 x 64"
    assert table["in_shape"].iloc[0] == "4 x 64 x 64"
    assert (table["then"].iloc[:-1] == "BatchNorm2d+ReLU").all() and table["then"].iloc[-1] == "Tanh"


def test_lite_generator_table_matches_the_prototype_layout():
    table = generator_layers(build_generator("lite", 128), 128)
    assert len(table) == 16
    assert list(table.loc[table["type"] == "dilated conv", "dilation"]) == [2, 4, 8]
    assert list(table.loc[table["type"] == "deconv", "out_shape"]) == ["64 x 64 x 64", "32 x 128 x 128"]
    assert table.loc[table["type"] != "deconv", "out_shape"].str.split(" x ").str[0].astype(int).max() == 128
    # the dilated middle takes the receptive field from 31 to 143 input pixels
    rf = list(table["receptive_field_px"])
    assert rf[5] == 31 and rf[8] == 143 and rf[-1] == 176


def test_receptive_field_recursion_on_a_hand_made_chain():
    chain = nn.Sequential(nn.Conv2d(1, 1, 3, padding=1),                 # r = 3
                          nn.Conv2d(1, 1, 3, stride=2, padding=1),       # r = 5, jump 2
                          nn.Conv2d(1, 1, 3, padding=2, dilation=2),     # r = 5 + 2*2*2 = 13
                          nn.ConvTranspose2d(1, 1, 4, stride=2, padding=1))  # jump 1, r = 13 + 3 = 16
    assert list(receptive_field_table(chain)["receptive_field_px"]) == [3, 5, 13, 16]


def test_gradient_receptive_field_shrinks_without_dilation():
    g = build_generator("lite", 128)     # analytic field 176 px with dilation, 96 px without
    with_dilation = (gradient_receptive_field(g, 128) > 1e-8).sum()
    for m in g.modules():
        if isinstance(m, nn.Conv2d) and m.dilation[0] > 1:
            m.dilation, m.padding = (1, 1), (1, 1)
    assert (gradient_receptive_field(g, 128) > 1e-8).sum() < with_dilation


def test_discriminator_layers_and_mode_restored():
    d = build_discriminator(ModelConfig(), 64)
    d.train()
    table = layer_shapes(d, torch.zeros(1, 3, 64, 64), torch.zeros(1, 1, 64, 64))
    assert d.training, "layer_shapes must restore the training mode"
    assert table["parameters"].sum() == count_parameters(d)
    local = table[table["layer"].str.startswith("local_branch.convs")]
    assert local["in_shape"].iloc[0] == "3 x 32 x 32"     # the local patch is half the image
    assert table["out_shape"].iloc[-1] == "1"


def test_architecture_figure_draws_all_parts():
    g = build_generator("lite", 32)
    d = build_discriminator(ModelConfig(), 32)
    p = PerceptualNetwork("vgg19", ("relu3_1",), "random")
    fig = architecture_figure(g, d, p, 32, title="t")
    texts = " ".join(t.get_text() for ax in fig.axes for t in ax.texts)
    assert "relu3_1: 256 x 8 x 8" in texts and "global: 3 conv" in texts and "L_rec" in texts
    assert len(fig.axes) == 2
    assert len(architecture_figure(g, image_size=32).axes) == 2   # generator only
