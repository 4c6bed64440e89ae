"""Chapter 2, CNN architectures: readable reference models equal to torchvision's, and tools to
measure them.

Every builder (``resnet18``, ``resnet34``, ``resnet50``, ``resnext50_32x4d``, ``wide_resnet50_2``,
``mobilenet_v2``, ``googlenet``, ``efficientnet_b0``) returns a model whose state-dict keys are
torchvision's, so ``model.load_state_dict(torchvision_model.state_dict(), strict=True)`` works and
gives the same outputs. The course never downloads; online, pretrained weights load like this::

    import torchvision
    from cvcourse.architectures import resnet50
    model = resnet50()
    model.load_state_dict(torchvision.models.resnet50(weights="IMAGENET1K_V2").state_dict())

Modules: ``inception_v1`` (2.1, GoogLeNet), ``resnet`` (2.2), ``inception_resnet`` (2.2.2),
``resnext`` (2.3),
``squeeze_excitation`` (2.4), ``mobilenet`` (2.5), ``efficientnet`` (2.6-2.7), ``regnet`` (2.8),
``small`` (small-input and plain vs residual nets, Exercise 7-1), ``scaling`` (2.6: a small CNN
scaled in depth, width and resolution, trained; the grid search for alpha, beta, gamma),
``complexity`` (parameters, FLOPs, receptive fields), ``widgets`` (explorers).
"""

from cvcourse.architectures.complexity import (
    conv_flops,
    conv_params,
    count_flops,
    count_parameters,
    empirical_receptive_field,
    receptive_field,
    stage_summary,
)
from cvcourse.architectures.efficientnet import (
    compound_scaling,
    efficientnet_b0,
    scaled_efficientnet,
)
from cvcourse.architectures.inception_resnet import InceptionResNetA, InceptionResNetB
from cvcourse.architectures.inception_v1 import googlenet
from cvcourse.architectures.mobilenet import mobilenet_v2
from cvcourse.architectures.resnet import (
    resnet18,
    resnet34,
    resnet50,
    resnext50_32x4d,
    wide_resnet50_2,
)
from cvcourse.architectures.resnext import (
    ResNeXtBranchBlock,
    ResNeXtGroupedBlock,
    branches_to_grouped,
)
from cvcourse.architectures.scaling import (
    ScalingExperiment,
    compound_vs_single,
    grid_search,
    scaled_cnn,
    scaling_curves,
)
from cvcourse.architectures.small import plain_cnn, residual_cnn, small_resnet18
from cvcourse.architectures.squeeze_excitation import SqueezeExcitation

BUILDERS = {
    "resnet18": resnet18,
    "resnet34": resnet34,
    "resnet50": resnet50,
    "resnext50_32x4d": resnext50_32x4d,
    "wide_resnet50_2": wide_resnet50_2,
    "mobilenet_v2": mobilenet_v2,
    "googlenet": googlenet,
    "efficientnet_b0": efficientnet_b0,
}

__all__ = [
    "BUILDERS",
    "InceptionResNetA",
    "InceptionResNetB",
    "ResNeXtBranchBlock",
    "ResNeXtGroupedBlock",
    "ScalingExperiment",
    "SqueezeExcitation",
    "branches_to_grouped",
    "compound_scaling",
    "compound_vs_single",
    "conv_flops",
    "conv_params",
    "count_flops",
    "count_parameters",
    "scaled_efficientnet",
    "efficientnet_b0",
    "empirical_receptive_field",
    "googlenet",
    "grid_search",
    "mobilenet_v2",
    "plain_cnn",
    "receptive_field",
    "residual_cnn",
    "resnet18",
    "resnet34",
    "resnet50",
    "resnext50_32x4d",
    "scaled_cnn",
    "scaling_curves",
    "small_resnet18",
    "stage_summary",
    "wide_resnet50_2",
]
