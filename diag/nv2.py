import gc, os, sys
import numpy as np
import geyser

def fds():
    return {int(n): os.readlink(f"/proc/self/fd/{n}") for n in os.listdir("/proc/self/fd") if os.path.exists(f"/proc/self/fd/{n}")}

DESC = geyser.TextureDescriptor(64, 48)
data = np.random.default_rng(0).integers(0, 256, (48, 64, 4), np.uint8)
mode = sys.argv[1]
if mode == "poison":
    dev = geyser.Device(); tex = dev.create_shareable_texture(DESC); tex.upload(data)
    good = dev.export_texture(tex)
    bad = geyser.TextureHandle.from_dict(good.to_dict(), os.open(sys.argv[2], os.O_RDWR))
    try:
        dev.import_texture(bad)
    except geyser.GeyserError as e:
        print("bad refused:", e)
    bad.close()
    for label, make in [("same memory", lambda: dev.export_texture(tex)),
                        ("new texture same device", lambda: dev.export_texture(dev.create_shareable_texture(DESC))),
                        ("new device new texture", lambda: (lambda d: d.export_texture(d.create_shareable_texture(DESC)))(geyser.Device()))]:
        h = make()
        try:
            geyser.Device().import_texture(h); print(label, "import OK")
        except geyser.GeyserError as e:
            print(label, "import FAILED", e)
    b = dev.create_shareable_buffer(4096); bh = dev.export_buffer(b)
    try:
        dev.import_buffer(bh); print("buffer import OK")
    except geyser.GeyserError as e:
        print("buffer import FAILED", e)
elif mode == "order":
    import itertools
    for order in [("texture","device","handle","imported"), ("imported","texture","device","handle")]:
        gc.collect(); n = fds()
        objs = {"device": geyser.Device()}
        objs["texture"] = objs["device"].create_shareable_texture(DESC); objs["texture"].upload(data)
        objs["handle"] = objs["device"].export_texture(objs["texture"])
        objs["imported"] = objs["device"].import_texture(objs["handle"])
        for name in order:
            obj = objs.pop(name); del obj; gc.collect()
            for key in ("texture", "imported"):
                if key in objs: objs[key].download()
            if "handle" in objs and "device" in objs:
                with objs["device"].import_texture(objs["handle"]) as again:
                    again.download()
        gc.collect(); m = fds()
        print(order, "net", {k: v for k, v in m.items() if n.get(k) != v})
