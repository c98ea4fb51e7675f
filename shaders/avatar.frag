#version 330 core
#include "color_filter.glsl"

#define MAX_SLOTS 128  // engine/render/renderer.py MAX_SLOTS

uniform sampler2D u_atlas;            // premultiplied RGBA
uniform vec4 u_tint[MAX_SLOTS];       // slot colours (straight alpha)
uniform vec4 u_part_filter[MAX_SLOTS];
uniform vec4 u_avatar_filter;

in vec2 v_uv;
flat in int v_slot;
out vec4 f_color;

void main() {
    vec4 texel = texture(u_atlas, v_uv);
    vec4 tint = u_tint[v_slot];
    float a = texel.a * tint.a;
    if (a <= 0.0) {
        discard;
    }
    // filters work on straight colour; the output stays premultiplied
    vec3 rgb = texel.rgb / texel.a * tint.rgb;
#ifdef COLOR_FILTERS
    // Compiled in only while some filter is on: llvmpipe runs both sides of a branch for
    // its 8 pixels at once, so even the "no filter" test costs every fragment the HSV maths.
    rgb = color_filter(rgb, u_part_filter[v_slot]);
    rgb = color_filter(rgb, u_avatar_filter);
#endif
    f_color = vec4(rgb * a, a);
}
