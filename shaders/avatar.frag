#version 330 core
#include "color_filter.glsl"

#define MAX_SLOTS 128  // engine/render/renderer.py MAX_SLOTS

uniform sampler2D u_atlas;            // premultiplied RGBA
uniform vec4 u_part_filter[MAX_SLOTS];
uniform vec4 u_avatar_filter;

in vec2 v_uv;
flat in int v_slot;
flat in vec4 v_tint;  // the slot's colour, premultiplied
out vec4 f_color;
#ifdef EYES
#include "eyes.glsl"
#endif

void main() {
    vec4 texel = texture(u_atlas, v_uv);
    if (texel.a * v_tint.a <= 0.0) {
        discard;
    }
#ifdef COLOR_FILTERS
    // Compiled in only while some filter is on: llvmpipe runs both sides of a branch for
    // its 8 pixels at once, so even the "no filter" test costs every fragment the HSV maths.
    // Filters work on straight colour; the output stays premultiplied.
    float a = texel.a * v_tint.a;
    vec3 rgb = texel.rgb / texel.a * (v_tint.rgb / v_tint.a);
    rgb = color_filter(rgb, u_part_filter[v_slot]);
    rgb = color_filter(rgb, u_avatar_filter);
    f_color = vec4(rgb * a, a);
#else
    // premultiplied texel times premultiplied tint: the same colour without a division
    f_color = texel * v_tint;
#endif
#ifdef EYES
    if (v_eye > 0) {
        f_color = eye_highlight(f_color, v_eye_uv);
    }
#endif
}
