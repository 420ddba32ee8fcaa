"""Golden numbers for the zoo, in one place: torchvision's parameter counts (its `meta["num_params"]`)
at input_size=224, num_classes=1000, in_channels=3, and Table 1 of Szegedy et al. 2014 (GoogLeNet)."""

PARAMS_224 = {
    "alexnet": 61_100_840,
    "vgg11": 132_863_336,
    "vgg16": 138_357_544,
    "vgg19": 143_667_240,
    "vgg16_bn": 138_365_992,
    "googlenet_tv": 6_624_904,  # torchvision's variant, without the auxiliary classifiers
    "resnet18": 11_689_512,
    "resnet34": 21_797_672,
    "resnet50": 25_557_032,
    "resnet101": 44_549_160,
    "resnet152": 60_192_808,
    "densenet121": 7_978_856,
    "densenet169": 14_149_480,
    "densenet201": 20_013_928,
}

# Szegedy et al. 2014, Table 1, "params" column, in thousands (K = 1024, as the table's numbers imply:
# the 1024 -> 1000 linear layer is listed as 1000K = 1,024,000 / 1024).
GOOGLENET_TABLE1_K = {
    "conv2": 112,  # 1x1 reduce (64) + 3x3 (192)
    "inception3a": 159,
    "inception3b": 380,
    "inception4a": 364,
    "inception4b": 437,
    "inception4c": 463,
    "inception4d": 580,
    "inception4e": 840,
    "inception5a": 1072,
    "inception5b": 1388,
    "linear": 1000,
}

RESNET50_GMACS_224 = 4.1  # He et al. report 3.8 G multiply-adds; torchvision's 4.09 G counts the v1.5 stride
