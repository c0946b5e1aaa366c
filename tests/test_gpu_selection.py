"""GPU selection users can trust: geyser.gpu_topology() (Vulkan devices matched to CUDA ordinals
by UUID, the peer-access matrix), and the selectors Device, Subscriber and geyser.cuda.CudaDevice
take: an index, UUID or name, a CUDA ordinal ("cuda:N") or a torch.device.

Without CUDA (lavapipe machines) this checks the reasons and the errors; with CUDA (the GPU
machine, scripts/gpu/multigpu.sh, under several CUDA_VISIBLE_DEVICES) that every CUDA form opens
the GPU CUDA numbers so. torch forms skip where torch is missing."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import pytest

import geyser
import geyser.cuda

STATUS = geyser.cuda.status()
needs_cuda = pytest.mark.skipif(not STATUS.available, reason=f"CUDA unavailable: {STATUS.reason}")
no_cuda_only = pytest.mark.skipif(STATUS.available, reason="checks the errors where CUDA is absent")
DESC = geyser.TextureDescriptor(32, 16)


def _torch():
    return pytest.importorskip("torch", reason="torch is not installed")


def test_topology_lists_every_vulkan_device_with_its_cuda_ordinal(device):
    t = geyser.gpu_topology()
    assert [g.vulkan.device_uuid for g in t.gpus] == [d.device_uuid for d in geyser.devices()]
    assert t.cuda_available == STATUS.available
    assert t.cuda_visible_devices == os.environ.get("CUDA_VISIBLE_DEVICES")
    if not t.cuda_available:
        assert t.cuda_reason == STATUS.reason and t.cuda_devices == [] and t.peer_access == []
        for g in t.gpus:
            assert g.cuda_ordinal is None and STATUS.reason in g.cuda_reason
        return
    assert [c.ordinal for c in t.cuda_devices] == list(range(STATUS.device_count))
    assert len(t.peer_access) == len(t.cuda_devices)
    for i, row in enumerate(t.peer_access):
        assert len(row) == len(t.cuda_devices) and row[i] is False
    by_uuid = {c.uuid: c for c in t.cuda_devices}
    for g in t.gpus:
        c = by_uuid.get(g.vulkan.device_uuid)
        if c is None:
            assert g.cuda_ordinal is None and g.cuda_reason
        else:
            assert g.cuda_ordinal == c.ordinal and c.vulkan_index == g.vulkan.index and g.cuda_reason == ""


@pytest.mark.parametrize("form", ["index", "int", "uuid", "dashed-uuid", "name"])
def test_every_selector_form_without_cuda_opens_the_same_gpu(device, form):
    info = device.info
    u = info.device_uuid
    selector = {"index": str(info.index), "int": info.index, "uuid": u.upper(),
                "dashed-uuid": f"{u[:8]}-{u[8:12]}-{u[12:16]}-{u[16:20]}-{u[20:]}", "name": info.name[2:-1].lower()}[form]
    with geyser.Device(selector) as d:
        if form == "name":  # a name substring picks the first device whose name has it
            assert info.name[2:-1].lower() in d.info.name.lower()
        else:
            assert d.info.device_uuid == u


@pytest.mark.parametrize("selector", ["cuda", "cuda:", "cuda:x", "cuda:-1", "cuda0", "cuda:1:2", "cuda: 1"])
def test_malformed_cuda_selectors_say_how_to_write_one(device, selector):
    with pytest.raises(geyser.InvalidArgumentError, match="cuda:N"):
        geyser.Device(selector)


@pytest.mark.parametrize("selector", [True, 1.5, b"0", [0]])
def test_selectors_of_the_wrong_type_are_refused(selector):
    with pytest.raises(geyser.InvalidArgumentTypeError, match="device selector"):
        geyser.Device(selector)


def test_a_negative_index_is_refused():
    with pytest.raises(geyser.InvalidArgumentError, match="not negative"):
        geyser.Device(-1)


@no_cuda_only
@pytest.mark.parametrize("make", ["Device", "CudaDevice", "Subscriber"])
def test_a_cuda_selector_without_cuda_says_why(device, make):
    ctor = {"Device": geyser.Device, "CudaDevice": geyser.cuda.CudaDevice,
            "Subscriber": lambda s: geyser.Subscriber(s, "never-made", timeout=1)}[make]
    with pytest.raises(geyser.UnsupportedOperationError, match="CUDA device 1 was asked for") as e:
        ctor("cuda:1")
    assert STATUS.reason in str(e.value)


@no_cuda_only
def test_cuda_device_from_a_selector_without_cuda_says_why(device):
    with pytest.raises(geyser.UnsupportedOperationError, match="CUDA interop is unavailable"):
        geyser.cuda.CudaDevice(device.info.device_uuid)


def test_subscriber_takes_a_selector(device):
    name = f"t-sel-{os.getpid()}-{time.monotonic_ns() % 100000}"
    with geyser.Sender(device, name, DESC, ring_size=2):
        sub = geyser.Subscriber(device.info.device_uuid, name, timeout=10)
        try:
            assert sub.device.info.device_uuid == device.info.device_uuid
            assert sub.info.descriptor.width == DESC.width
        finally:
            sub.close()


@needs_cuda
def test_subscriber_takes_a_cuda_selector():
    name = f"t-selc-{os.getpid()}-{time.monotonic_ns() % 100000}"
    with geyser.Device("cuda:0") as producer, geyser.Sender(producer, name, DESC, ring_size=2):
        sub = geyser.Subscriber("cuda:0", name, timeout=10)
        try:
            assert sub.device.info.device_uuid == producer.info.device_uuid
        finally:
            sub.close()


@needs_cuda
def test_cuda_ordinals_open_the_gpu_cuda_numbers_so():
    t = geyser.gpu_topology()
    for c in t.cuda_devices:
        if c.vulkan_index is None:
            with pytest.raises(geyser.VulkanUnavailableError, match="no Vulkan device"):
                geyser.Device(f"cuda:{c.ordinal}")
            continue
        with geyser.Device(f"cuda:{c.ordinal}") as d:
            assert d.info.device_uuid == c.uuid
        gpu = geyser.cuda.CudaDevice(f"cuda:{c.ordinal}")
        assert gpu.ordinal == c.ordinal and gpu.uuid == c.uuid
    with pytest.raises(geyser.InvalidArgumentError, match="CUDA_VISIBLE_DEVICES"):
        geyser.Device(f"cuda:{len(t.cuda_devices)}")


def _torch_uuid(torch, index: int) -> str:
    # str() of torch's _CUuuid is the dashed form, "GPU-" prefixed in some versions.
    return str(torch.cuda.get_device_properties(index).uuid).lower().removeprefix("gpu-").replace("-", "")


@needs_cuda
def test_torch_devices_select_the_same_gpu_as_torch():
    torch = _torch()
    if not torch.cuda.is_available():
        pytest.skip("torch sees no CUDA device")
    for i in range(torch.cuda.device_count()):
        with geyser.Device(torch.device("cuda", i)) as d:
            assert d.info.device_uuid == _torch_uuid(torch, i)
        assert geyser.cuda.CudaDevice(torch.device(f"cuda:{i}")).ordinal == i
    with geyser.Device(torch.device("cuda")) as d:  # torch's current device
        assert d.info.device_uuid == _torch_uuid(torch, torch.cuda.current_device())
    with pytest.raises(geyser.InvalidArgumentError, match="not a CUDA device"):
        geyser.Device(torch.device("cpu"))


def _run_info(env_visible: str | None) -> dict:
    env = dict(os.environ)
    env.pop("CUDA_VISIBLE_DEVICES", None)
    if env_visible is not None:
        env["CUDA_VISIBLE_DEVICES"] = env_visible
    out = subprocess.run([sys.executable, "-m", "geyser", "info", "--json"], capture_output=True, text=True, env=env,
                         timeout=120)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def test_info_lists_each_gpu_with_its_cuda_ordinal(device):
    doc = _run_info(os.environ.get("CUDA_VISIBLE_DEVICES"))
    cuda = doc["cuda"]
    assert cuda["available"] == STATUS.available
    assert [g["device_uuid"] for g in cuda["gpus"]] == [d["device_uuid"] for d in doc["devices"]]
    for g in cuda["gpus"]:
        assert (g["cuda_ordinal"] is None) == bool(g["cuda_reason"])
    text = subprocess.run([sys.executable, "-m", "geyser", "info"], capture_output=True, text=True, timeout=120)
    assert text.returncode == 0, text.stderr
    assert text.stdout.count("    CUDA        ") == len(doc["devices"])
    if not STATUS.available:
        assert "CUDA: none visible" in text.stdout


@needs_cuda
@pytest.mark.parametrize("visible", ["", "0", "NoDevFiles"])
def test_cuda_visible_devices_hides_or_renumbers(device, visible):
    """Empty or a bad value hides every GPU from CUDA (each then says why); "0" keeps the first."""
    full = _run_info(None)["cuda"]
    doc = _run_info(visible)["cuda"]
    assert doc["visible_devices"] == visible
    if visible == "0":
        assert doc["available"] and len(doc["devices"]) == 1
        assert doc["devices"][0]["uuid"] == full["devices"][0]["uuid"]
    else:
        assert not doc["available"] and doc["devices"] == []
        assert all(g["cuda_ordinal"] is None and g["cuda_reason"] for g in doc["gpus"])
