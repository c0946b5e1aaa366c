import gc, os, sys
import numpy as np
import geyser

def fds():
    out = {}
    for n in os.listdir("/proc/self/fd"):
        try:
            out[int(n)] = os.readlink(f"/proc/self/fd/{n}")
        except OSError:
            pass
    return out

def diff(a, b, label):
    added = {k: v for k, v in b.items() if a.get(k) != v}
    removed = {k: v for k, v in a.items() if b.get(k) != v}
    print(f"{label}: +{added} -{removed}", flush=True)

DESC = geyser.TextureDescriptor(64, 48)
data = np.random.default_rng(0).integers(0, 256, (48, 64, 4), np.uint8)

print("== scenario: release texture first")
for rep in range(3):
    gc.collect(); a = fds()
    dev = geyser.Device(); tex = dev.create_shareable_texture(DESC); tex.upload(data)
    h = dev.export_texture(tex); imp = dev.import_texture(h)
    b = fds(); diff(a, b, f"rep{rep} after setup")
    del tex; gc.collect(); c = fds(); diff(b, c, "after del texture")
    del dev; gc.collect(); d = fds(); diff(c, d, "after del device")
    del h; gc.collect(); e = fds(); diff(d, e, "after del handle")
    del imp; gc.collect(); f = fds(); diff(e, f, "after del imported")
    diff(a, f, "NET")

print("== scenario: release device first")
for rep in range(2):
    gc.collect(); a = fds()
    dev = geyser.Device(); tex = dev.create_shareable_texture(DESC); tex.upload(data)
    h = dev.export_texture(tex); imp = dev.import_texture(h)
    del dev, h, imp, tex; gc.collect(); diff(a, fds(), "NET")

print("== foreign fd then good import")
dev = geyser.Device(); tex = dev.create_shareable_texture(DESC); tex.upload(data)
good = dev.export_texture(tex)
st = os.fstat(good.fd); print("good fd", good.fd, os.readlink(f"/proc/self/fd/{good.fd}"), st.st_ino, st.st_rdev)
ok = dev.import_texture(good); print("first good import ok", np.array_equal(ok.download(), data)); del ok
a = fds()
d = good.to_dict()
bad = geyser.TextureHandle.from_dict(d, os.open("/dev/null", os.O_RDWR))
try:
    dev.import_texture(bad)
except geyser.GeyserError as e:
    print("bad refused:", type(e).__name__, e)
bad.close()
diff(a, fds(), "after bad import")
st2 = os.fstat(good.fd); print("good fd after", good.fd, os.readlink(f"/proc/self/fd/{good.fd}"), st2.st_ino)
for attempt in range(3):
    try:
        t = dev.import_texture(good); print("good import", attempt, "ok", np.array_equal(t.download(), data)); break
    except geyser.GeyserError as e:
        print("good import", attempt, "failed:", e)
try:
    dev2 = geyser.Device(); t = dev2.import_texture(good); print("good import on new Device ok", np.array_equal(t.download(), data))
except geyser.GeyserError as e:
    print("new Device import failed:", e)
h2 = dev.export_texture(tex)
try:
    t = dev.import_texture(h2); print("fresh export import ok", np.array_equal(t.download(), data))
except geyser.GeyserError as e:
    print("fresh export import failed:", e)

print("== sync cycles")
dev = geyser.Device()
for rep in range(3):
    gc.collect(); a = fds()
    for _ in range(200):
        t = dev.create_shared_semaphore("timeline")
        with dev.export_semaphore(t) as h:
            dev.import_semaphore(h)
    gc.collect(); diff(a, fds(), f"sem rep{rep}")
for rep in range(3):
    gc.collect(); a = fds()
    for _ in range(200):
        f = dev.create_shared_fence()
        with dev.export_fence(f) as h:
            dev.import_fence(h)
    gc.collect(); diff(a, fds(), f"fence rep{rep}")
