"""Objects with __dlpack__ and raw DLPack capsules: read in place, a capsule consumed once."""
import numpy as np
import pytest

import tdsl
from conftest import softmax_reference


class OnlyDLPack:
    """An array known to tdsl only through the DLPack protocol."""

    def __init__(self, array):
        self.array = array

    def __dlpack__(self, **kwargs):
        return self.array.__dlpack__(**kwargs)

    def __dlpack_device__(self):
        return self.array.__dlpack_device__()


def test_an_object_with_dlpack_is_read(nn):
    x = np.random.default_rng(1).standard_normal((4, 6)).astype(np.float32)
    y = nn.softmax(OnlyDLPack(x))
    assert isinstance(y, np.ndarray)
    np.testing.assert_allclose(y, softmax_reference(x), rtol=1e-5, atol=1e-6)


def test_a_capsule_is_consumed_once(nn):
    x = np.random.default_rng(2).standard_normal((3, 5)).astype(np.float32)
    capsule = x.__dlpack__()
    np.testing.assert_allclose(nn.softmax(capsule), softmax_reference(x), rtol=1e-5, atol=1e-6)
    with pytest.raises(tdsl.RuntimeError) as error:
        nn.softmax(capsule)
    assert error.value.code == "E081"
