"""The frozen ImageNet backbone. `loader` builds it (imports TensorFlow); `registry` only names."""
