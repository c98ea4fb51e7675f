#version 330 core
#include "skinning.glsl"

uniform mat3 u_view;  // engine space (y-up px) -> clip space
// A slot's depth: later slots nearer, and this frame's nearer than every earlier frame's,
// so the depth buffer needs no clear between frames (engine/render/renderer.py _clear)
uniform float u_depth_base;  // 1 - 2 * frame * (MAX_SLOTS + 1) * DEPTH_STEP
uniform float u_depth_step;  // 2 * DEPTH_STEP

in ivec4 in_bones;
in vec4 in_weights;
in vec4 in_p01;
in vec4 in_p23;
in int in_anchor;
in vec2 in_deform;
in vec2 in_uv;
in int in_slot;
// noperspective: every vertex has w = 1 (a 2D picture), so perspective-correct
// interpolation gives the same values and costs llvmpipe a divide and multiplies a fragment
noperspective out vec2 v_uv;
flat out int v_slot;
flat out vec4 v_tint;  // the slot's colour, premultiplied

#define MAX_SLOTS 128  // engine/render/renderer.py MAX_SLOTS

uniform vec4 u_tint[MAX_SLOTS];  // slot colours (straight alpha)
#ifdef STYLED
// a render style's eye highlights (engine/render/looks.py): the iris slots, their pictures'
// atlas rectangles (u0, v0, u1, v1), and where in its picture a fragment lies
uniform int u_eye_slot[2];
uniform vec4 u_eye_rect[2];
flat out int v_eye;
noperspective out vec2 v_eye_uv;
// each slot's shape (engine/render/renderer.py _slot_shapes), as the shape target stores it
uniform float u_shape[MAX_SLOTS];
flat out float v_shape;
#endif

void main() {
    vec2 world = skin(in_bones, in_weights, in_p01, in_p23) + bone_vector(in_anchor, in_deform);
    vec3 clip = u_view * vec3(world, 1.0);
    // the depth the occlusion pre-pass writes and the colour pass tests, identical in both
    float depth = u_depth_base - float(in_slot + 1) * u_depth_step;
    gl_Position = vec4(clip.xy, depth, 1.0);
    v_uv = in_uv;
    v_slot = in_slot;
    // looked up once a vertex, not once a fragment: an indexed uniform costs llvmpipe a
    // gather for every 8 fragments
    vec4 tint = u_tint[in_slot];
    v_tint = vec4(tint.rgb * tint.a, tint.a);
#ifdef STYLED
    v_shape = u_shape[in_slot];
    v_eye = in_slot == u_eye_slot[0] ? 1 : (in_slot == u_eye_slot[1] ? 2 : 0);
    vec4 rect = u_eye_rect[v_eye == 2 ? 1 : 0];
    v_eye_uv = (in_uv - rect.xy) / max(rect.zw - rect.xy, vec2(1e-6));
#endif
}
