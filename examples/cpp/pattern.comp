// The moving test pattern, drawn by the GPU into an RGBA8 storage image: texel (x, y) of frame f
// holds, per channel and modulo 256, R = x + 3f, G = y + 5f, B = (x ^ y) + 7f, A = 2x + y + 11f
// (geyser.demo.pattern for RGBA8, which consumers check byte for byte). Integer arithmetic, and
// each value v stored as v / 255, which UNORM8 holds exactly: the host computes the same bytes.
#version 450
layout(local_size_x = 8, local_size_y = 8) in;
layout(set = 0, binding = 0, rgba8) uniform writeonly image2D target;
// The frame number modulo 2^32, which keeps every channel modulo 256 the same.
layout(push_constant) uniform Frame { uint number; } frame;

void main() {
    const ivec2 size = imageSize(target);
    const uvec2 p = gl_GlobalInvocationID.xy;
    if (p.x >= uint(size.x) || p.y >= uint(size.y)) return;
    const uint f = frame.number;
    const uvec4 v = uvec4(p.x + 3u * f, p.y + 5u * f, (p.x ^ p.y) + 7u * f, 2u * p.x + p.y + 11u * f) & 255u;
    imageStore(target, ivec2(p), vec4(v) / 255.0);
}
