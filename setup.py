"""s5tse: spatial semantic segmentation of sound scenes (DCASE 2026 Task 4) recipes."""
import re
from pathlib import Path

from setuptools import find_packages, setup

_here = Path(__file__).resolve().parent
_version = re.search(
    r'^__version__ = "([^"]+)"', (_here / "s5tse" / "__init__.py").read_text(), re.M
).group(1)

install_requires = [
    "torch>=2.4,<3",
    "torchaudio>=2.5,<3",
    "numpy>=1.24,<3",
    "scipy>=1.10,<2",
    "soundfile>=0.12,<1",
    "pyyaml>=6.0,<7",
    "kaldiio>=2.18,<3",
    "tensorboard>=2.14,<3",
    "sofar>=1.1,<2",
    "pyroomacoustics>=0.7,<1",
    "tqdm>=4.66,<5",
]

extras_require = {
    "hub": ["huggingface_hub>=0.20,<2"],     # SceneSeparator.from_pretrained("owner/name")
    "dev": [
        "pytest>=7.4,<10",
        "pytest-timeout>=2.2,<3",
    ],
}

setup(
    name="s5tse",
    version=_version,
    description=(
        "Kaldi/ESPnet-style recipes for spatial semantic segmentation of sound "
        "scenes (DCASE 2026 Task 4)"
    ),
    long_description=(_here / "README.md").read_text() if (_here / "README.md").exists() else "",
    long_description_content_type="text/markdown",
    license="Apache-2.0",
    python_requires=">=3.9",
    packages=find_packages(include=["s5tse", "s5tse.*"]),
    install_requires=install_requires,
    extras_require=extras_require,
)
