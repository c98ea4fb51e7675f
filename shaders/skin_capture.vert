#version 330 core
// Skinning only, captured by transform feedback: lets tests compare the GPU path with
// the CPU kernel vertex by vertex.
#include "skinning.glsl"

in ivec4 in_bones;
in vec4 in_weights;
in vec4 in_p01;
in vec4 in_p23;
in int in_anchor;
in vec2 in_deform;
out vec2 out_pos;

void main() {
    out_pos = skin(in_bones, in_weights, in_p01, in_p23) + bone_vector(in_anchor, in_deform);
}
