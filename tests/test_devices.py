"""Device discovery, selection and format capabilities."""

from __future__ import annotations

import os
import re

import pytest

import geyser
from geyser import TextureFormat, format_info

HEX32 = re.compile(r"[0-9a-f]{32}")
HANDLE_TYPE_NAMES = {"opaque_fd", "sync_fd", "dma_buf"}
LIST_FIELDS = (
    "memory_export", "memory_import", "buffer_export", "buffer_import",
    "binary_semaphore_export", "binary_semaphore_import",
    "timeline_semaphore_export", "timeline_semaphore_import", "fence_export", "fence_import",
)


@pytest.fixture(scope="module")
def infos(device):  # `device` first, so the module skips without Vulkan
    return geyser.devices()


def dashed(uuid: str) -> str:
    return f"{uuid[:8]}-{uuid[8:12]}-{uuid[12:16]}-{uuid[16:20]}-{uuid[20:]}"


# -- devices() ---------------------------------------------------------------------------------

def test_devices_fields(infos):
    assert infos, "devices() returned an empty list"
    for i, d in enumerate(infos):
        assert isinstance(d, geyser.DeviceInfo)
        assert d.index == i
        assert isinstance(d.name, str) and d.name
        assert HEX32.fullmatch(d.device_uuid), d.device_uuid
        assert HEX32.fullmatch(d.driver_uuid), d.driver_uuid
        assert d.device_type in {"other", "integrated_gpu", "discrete_gpu", "virtual_gpu", "cpu"}
        assert re.fullmatch(r"\d+\.\d+\.\d+", d.api_version), d.api_version
        assert isinstance(d.timeline_semaphores, bool)
        for name in LIST_FIELDS:
            value = getattr(d, name)
            assert isinstance(value, list), (name, value)
            assert set(value) <= HANDLE_TYPE_NAMES, (name, value)
            assert len(set(value)) == len(value), (name, value)


def test_devices_agree_with_opened_device(device, infos):
    info = infos[device.info.index]
    assert info == device.info


def test_device_can_share_memory(device):
    # Geyser shares through opaque_fd; a device without it could not pass the rest of the suite.
    assert "opaque_fd" in device.info.memory_export
    assert "opaque_fd" in device.info.memory_import
    assert "opaque_fd" in device.info.buffer_export
    assert "opaque_fd" in device.info.buffer_import


def test_fence_support_is_named_by_the_fence_bits():
    # DeviceInfo's masks are Vulkan's: a fence's SYNC_FD bit is 0x8, a semaphore's 0x10 (neither
    # test driver reports sync FDs, so the names are checked on the masks themselves).
    from geyser import device as device_module

    fence_mask = 0x1 | 0x8  # VK_EXTERNAL_FENCE_HANDLE_TYPE_OPAQUE_FD_BIT | ..._SYNC_FD_BIT
    semaphore_mask = 0x1 | 0x10  # VK_EXTERNAL_SEMAPHORE_HANDLE_TYPE_OPAQUE_FD_BIT | ..._SYNC_FD_BIT
    assert device_module._fence_names(fence_mask) == ["opaque_fd", "sync_fd"]
    assert device_module._names(semaphore_mask) == ["opaque_fd", "sync_fd"]
    assert device_module._names(0x8) == []  # not a semaphore's sync FD


# -- selection ---------------------------------------------------------------------------------

@pytest.mark.parametrize("selector", [0, "0"])
def test_select_by_index(infos, selector):
    with geyser.Device(selector) as d:
        assert d.info.index == 0
        assert d.info.device_uuid == infos[0].device_uuid


def test_select_every_index(infos):
    for info in infos:
        with geyser.Device(str(info.index)) as d:
            assert d.info.index == info.index
            assert d.info.name == info.name


@pytest.mark.parametrize("spelling", ["plain", "dashed", "upper"])
def test_select_by_uuid(infos, spelling):
    target = infos[-1]
    sel = {"plain": target.device_uuid, "dashed": dashed(target.device_uuid),
           "upper": dashed(target.device_uuid).upper()}[spelling]
    with geyser.Device(sel) as d:
        # Several devices can share a UUID (the same driver build twice); the first one wins.
        first = next(i for i in infos if i.device_uuid == target.device_uuid)
        assert d.info.index == first.index
        assert d.info.device_uuid == target.device_uuid


def test_select_by_name_substring(infos):
    target = infos[-1]
    # A case-changed piece from the middle of the name, so neither prefix nor case matter.
    piece = target.name[1:6] if len(target.name) > 6 else target.name
    piece = piece.swapcase()
    first = next(i for i in infos if piece.lower() in i.name.lower())
    with geyser.Device(piece) as d:
        assert d.info.index == first.index
        assert d.info.name == first.name


def test_explicit_selector_beats_environment(infos, monkeypatch):
    monkeypatch.setenv("GEYSER_DEVICE", "no-such-device-anywhere")
    with geyser.Device(0) as d:
        assert d.info.index == 0


def test_geyser_device_env_selects(infos, run_child):
    target = infos[-1]
    answer = run_child("device", env={"GEYSER_DEVICE": dashed(target.device_uuid)})
    assert answer["device_uuid"] == target.device_uuid
    answer = run_child("device", env={"GEYSER_DEVICE": str(target.index)})
    assert answer["index"] == target.index


def test_geyser_device_env_bad_selector(infos, run_child):
    answer = run_child("device", env={"GEYSER_DEVICE": "no-such-device-anywhere"}, expect_error=True)
    assert answer["error"] == "VulkanUnavailableError"
    assert "no-such-device-anywhere" in answer["message"]
    for info in infos:
        assert info.device_uuid in answer["message"]


@pytest.mark.parametrize(
    "selector",
    ["no-such-device-anywhere", "9999", "0123456789abcdef0123456789abcdef", "01234567-89ab-cdef-0123-456789abcdef"],
)
def test_bad_selector_lists_devices(infos, selector):
    if selector.replace("-", "") in {i.device_uuid for i in infos}:
        pytest.skip("the made-up UUID exists on this machine")
    with pytest.raises(geyser.VulkanUnavailableError) as e:
        geyser.Device(selector)
    msg = str(e.value)
    assert selector in msg
    for info in infos:
        assert info.name in msg, msg
        assert info.device_uuid in msg, msg


# -- format capabilities -----------------------------------------------------------------------

def test_all_21_formats():
    assert len(TextureFormat) == 21
    assert sorted(int(f) for f in TextureFormat) == list(range(1, 22))


@pytest.mark.parametrize("fmt", list(TextureFormat), ids=lambda f: f.name)
def test_format_support(device, fmt):
    caps = device.format_support(fmt)
    assert isinstance(caps, geyser.FormatSupport)
    assert caps.format is fmt
    info = format_info(fmt)
    if caps.shareable:
        assert caps.vk_format in info.vk_formats
        s = caps.handle_types["opaque_fd"]
        assert s.exportable and s.importable
        assert s.max_width >= 1 and s.max_height >= 1
    else:
        assert caps.reason, f"{fmt.name} is not shareable but no reason is given"
        assert caps.vk_format is None or caps.vk_format in info.vk_formats
    # The name (any case) and the value mean the same format.
    assert device.format_support(fmt.name.lower()) == caps
    assert device.format_support(int(fmt)) == caps


def test_depth24_plus_picks_a_candidate(device):
    caps = device.format_support(TextureFormat.DEPTH24_PLUS)
    candidates = format_info(TextureFormat.DEPTH24_PLUS).vk_formats
    assert len(candidates) > 1
    if not caps.shareable:
        pytest.skip(f"DEPTH24_PLUS is not shareable on this device: {caps.reason}")
    assert caps.vk_format in candidates
    # That the pick is the first candidate that can be shared (every earlier one cannot be) is
    # checked against the driver's per-VkFormat answer in C++ (FormatSupport.PicksTheFirst-
    # ShareableCandidate, tests/cpp/test_formats.cpp): that query is internal to the core.
    # A texture made from it really uses that Vulkan format, and the handle carries it.
    tex = device.create_shareable_texture(geyser.TextureDescriptor(8, 8, TextureFormat.DEPTH24_PLUS))
    with tex, device.export_texture(tex) as h:
        assert tex.vk_format == caps.vk_format
        assert h.vk_format == caps.vk_format
        assert h.format is TextureFormat.DEPTH24_PLUS


def test_unknown_format_name(device):
    with pytest.raises(ValueError):
        device.format_support("RGB8_UNORM")


def test_format_support_keeps_the_usage_asked(device):
    # Storage on sRGB is widely unsupported; either answer is fine, but the answer is for the usage
    # asked, and a refusal says why.
    usage = geyser.TextureUsage.COPY_SRC | geyser.TextureUsage.STORAGE_BINDING
    caps = device.format_support(TextureFormat.RGBA8_SRGB, usage)
    assert caps.usage == usage
    if not caps.shareable:
        assert caps.reason


def test_no_driver_raises_vulkan_unavailable():
    """Without a driver `import geyser` works and the first use says what to install."""
    import subprocess
    import sys

    env = dict(os.environ, VK_ICD_FILENAMES="/nonexistent/icd.json", VK_DRIVER_FILES="/nonexistent/icd.json")
    env.pop("GEYSER_VALIDATION", None)
    code = (
        "import geyser\n"
        "try:\n"
        "    geyser.Device()\n"
        "except geyser.VulkanUnavailableError as e:\n"
        "    print('unavailable:', e)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("unavailable:") and "install" in out.stdout, out.stdout


def test_cli_info_lists_devices_and_formats(device):
    import subprocess
    import sys

    out = subprocess.run([sys.executable, "-m", "geyser", "info"], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert device.info.device_uuid in out.stdout
    for fmt in geyser.TextureFormat:
        assert fmt.name in out.stdout


def test_cli_demo_shares_and_verifies(device, tmp_path):
    import subprocess
    import sys

    png = tmp_path / "last.png"
    out = subprocess.run([sys.executable, "-m", "geyser", "demo", "--width", "67", "--height", "31", "--frames", "12",
                          "--ring", "2", "--png", str(png)], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "12/12 frames verified (sent 12)" in out.stdout
    assert "handoff latency" in out.stdout
    data = png.read_bytes()
    assert data.startswith(b"\x89PNG") and len(data) > 100


def test_cli_list_shows_a_live_sender(device):
    import subprocess
    import sys

    desc = geyser.TextureDescriptor(8, 4)
    with geyser.Sender(device, f"list-test-{os.getpid()}", desc, ring_size=2):
        out = subprocess.run([sys.executable, "-m", "geyser", "list"], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert f"list-test-{os.getpid()}" in out.stdout and "8x4" in out.stdout


def test_all_digit_uuid_is_a_uuid_not_an_index(infos):
    with pytest.raises(geyser.VulkanUnavailableError, match="no device has UUID"):
        geyser.Device("0" * 32)
