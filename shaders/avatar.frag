#version 330 core
#include "color_filter.glsl"

#define MAX_SLOTS 128  // engine/render/renderer.py MAX_SLOTS

uniform sampler2D u_atlas;            // premultiplied RGBA
uniform vec4 u_part_filter[MAX_SLOTS];
uniform vec4 u_avatar_filter;

noperspective in vec2 v_uv;  // shaders/avatar.vert: w is 1
flat in int v_slot;
flat in vec4 v_tint;  // the slot's colour, premultiplied
layout(location = 0) out vec4 f_color;
#ifdef STYLED
// a render style's pass (engine/render/looks.py) is drawn after this one: the irises' eye
// highlights, and each pixel's shape written to a second target, where the style pass
// finds the edges of shapes (a face, a hair lock) without the features drawn on them
#include "eyes.glsl"
flat in float v_shape;
uniform bool u_write_shape;  // false for the non-normal blend modes: they keep the shape below
layout(location = 1) out vec4 f_shape;
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
#ifdef STYLED
    if (v_eye > 0) {
        f_color = eye_highlight(f_color, v_eye_uv);
    }
    // replaces what is below where this part is mostly opaque, keeps it elsewhere (with the
    // premultiplied blend: source alpha 1 replaces, 0 keeps)
    // (a feature, shape 0, keeps the shape it is drawn on)
    bool writes = u_write_shape && v_shape > 0.0 && f_color.a >= 0.5;
    f_shape = writes ? vec4(v_shape, 0.0, 0.0, 1.0) : vec4(0.0);
#endif
}
