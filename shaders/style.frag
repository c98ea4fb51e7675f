#version 330 core
// The render-style pass (engine/render/looks.py, which holds its numpy reference): an ink
// outline, cel shading bands and palette grading over the drawn avatar.

#define SHADE_TAPS 4      // engine/render/looks.py SHADE_TAPS
#define SAME_COLOUR 0.15  // engine/render/looks.py SAME_COLOUR
#define MIN_EDGE 0.08     // engine/render/looks.py MIN_EDGE

uniform sampler2D u_src;  // the avatar, premultiplied, GL row order
uniform sampler2D u_shapes;  // each pixel's shape (0: none), from the avatar pass
uniform int u_line;       // outline half-width in pixels; 0: none
uniform int u_diagonal;   // the same on the diagonals
uniform vec3 u_ink;
uniform float u_line_tone;
uniform vec4 u_reach;     // the shading's SHADE_TAPS steps in pixels, nearest first; 0: none
uniform float u_thin;     // how much further the second sample looks (RenderStyle.thin)
uniform vec2 u_light;     // a unit vector towards the light (GL: y up)
uniform int u_bands;
uniform float u_softness;
uniform vec3 u_shadow;    // the deepest band's multiplier (tint x (1 - depth))
uniform float u_saturation;
uniform float u_temperature;
out vec4 f_color;

const vec3 LUMA = vec3(0.2126, 0.7152, 0.0722);
const vec3 WARM = vec3(0.08, 0.0, -0.08);

ivec2 g_size;

vec4 at(ivec2 p) {
    return texelFetch(u_src, clamp(p, ivec2(0), g_size - 1), 0);
}

vec3 straight(vec4 c) {
    return c.a > 0.0 ? c.rgb / c.a : vec3(0.0);
}

float max3(vec3 v) {
    return max(v.x, max(v.y, v.z));
}

// 0 inside this pixel's shape, 1 outside it (transparent, or another shape in another
// colour: the features drawn on a face are the face's), at a point in window coordinates; alpha bilinear, so band
// edges come out anti-aliased, the shape the texel's own
float otherness(float own_shape, vec3 own, vec2 at_px) {
    vec4 n = texture(u_src, at_px / vec2(g_size));
    float shape = texelFetch(u_shapes, clamp(ivec2(floor(at_px)), ivec2(0), g_size - 1), 0).r;
    float away = 1.0 - clamp(n.a, 0.0, 1.0);
    // another shape in another colour: a lock of hair over the hair is the same mass
    bool other = shape != own_shape && shape > 0.0 && max3(abs(straight(n) - own)) > SAME_COLOUR;
    return max(away, other ? n.a : 0.0);
}

// the outline's neighbour at `q`: the most opaque so far, and its colour
void outline_tap(ivec2 q, inout float around, inout vec3 near) {
    vec4 n = at(q);
    if (n.a > around) {
        near = straight(n);
        around = n.a;
    }
}

// one shading sample `reach` pixels away from the light, weighted by how near it is
float shade_tap(float own_shape, vec3 own, vec2 centre, float reach, float weight) {
    float o = min(
        otherness(own_shape, own, centre - u_light * reach),
        otherness(own_shape, own, centre - u_light * (reach + u_thin))
    );
    return o * weight;
}

float step_edge(float e0, float e1, float x) {
    return e1 <= e0 ? float(x >= e0) : smoothstep(e0, e1, x);
}

void main() {
    g_size = textureSize(u_src, 0);
    ivec2 p = ivec2(gl_FragCoord.xy);
    vec4 c = at(p);
    vec3 own = straight(c);
    vec3 rgb = own;

    // How near a step away from the light leaves this pixel's shape; a neighbour counts
    // only if a second sample u_thin pixels on agrees, so a thin lock of hair does not
    // echo as a band.
    float amount = 0.0;
    float own_shape = texelFetch(u_shapes, p, 0).r;
    if (u_bands > 0 && u_reach.x > 0.0 && c.a > 0.5) {
        vec2 centre = gl_FragCoord.xy;
        // written out, not looped: a uniform array indexed in a loop costs llvmpipe memory
        amount = max(amount, shade_tap(own_shape, own, centre, u_reach.x, 1.0));
        amount = max(amount, shade_tap(own_shape, own, centre, u_reach.y, 0.75));
        amount = max(amount, shade_tap(own_shape, own, centre, u_reach.z, 0.5));
        amount = max(amount, shade_tap(own_shape, own, centre, u_reach.w, 0.25));
    }
    float level = 0.0;
    if (u_bands > 0) {
        float half_w = max(0.5 * u_softness / float(u_bands), MIN_EDGE);
        for (int i = 1; i <= u_bands; ++i) {
            float t = (float(i) - 0.5) / float(u_bands);
            level += step_edge(t - half_w, t + half_w, amount);
        }
        level /= float(u_bands);
    }
    rgb *= 1.0 + (u_shadow - 1.0) * level;
    float luma = dot(rgb, LUMA);
    rgb = luma + (rgb - luma) * u_saturation;
    rgb *= 1.0 + u_temperature * WARM;
    rgb = clamp(rgb, 0.0, 1.0);

    // the outline: outside the figure, where a neighbour u_line pixels away is more opaque,
    // in the ink colour (or the neighbour's own colour darkened, by u_line_tone)
    vec3 out_rgb = rgb * c.a;
    float out_a = c.a;
    if (u_line > 0) {
        int r = u_line;
        int d = u_diagonal;
        float around = 0.0;
        vec3 near = vec3(0.0);
        // unrolled: a local array is memory on llvmpipe, filled for every pixel
        outline_tap(p + ivec2(r, 0), around, near);
        outline_tap(p + ivec2(-r, 0), around, near);
        outline_tap(p + ivec2(0, r), around, near);
        outline_tap(p + ivec2(0, -r), around, near);
        outline_tap(p + ivec2(d, d), around, near);
        outline_tap(p + ivec2(-d, d), around, near);
        outline_tap(p + ivec2(d, -d), around, near);
        outline_tap(p + ivec2(-d, -d), around, near);
        float outer = around;
        vec3 ink = u_ink + (near * 0.35 - u_ink) * u_line_tone;
        out_rgb += ink * outer * (1.0 - c.a);
        out_a += outer * (1.0 - c.a);
    }
    f_color = vec4(out_rgb, out_a);
}
