"""Neural networks that read R, N and sigma2 of the first shells from chi(k), with calibrated errors.

- ``TrainConfig`` (``config``): one training run, from a TOML file.
- ``train`` (``train``): synthetic data from the FEFF paths, a deep ensemble, variance-scaling calibration.
- ``NNModel`` / ``load_model`` (``predict``): predictions, unseen-spectrum flags, files with a checksum.
- ``get_model`` (``store``): shipped, cached, or trained on demand.
- ``ARCHITECTURES`` (``models``): the registry of designs; ``flow_npe`` (``flow``) is neural posterior
  estimation with a conditional normalizing flow (zuko), the others Gaussian-head or point networks.
- ``rdf`` (module): the partial-RDF network (n_B(r) per kind of neighbour with a calibrated band).
"""

from .config import TrainConfig
from .models import ARCHITECTURES
from .predict import ModelFileError, NNModel, load_model
from .store import default_config, get_model, model_name
from .train import train

__all__ = ["TrainConfig", "ARCHITECTURES", "NNModel", "ModelFileError", "load_model", "default_config",
           "get_model", "model_name", "train"]
