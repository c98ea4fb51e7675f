// Linear blend skinning: the GPU twin of engine/kernels/skinning.py (the reference).
// Bone world transforms arrive as two rows per bone in a float texture:
//   texel (b, 0) = (a, b, x, 0), texel (b, 1) = (c, d, y, 0)
// so a bone-local point p maps to (dot(row0.xy, p) + row0.z, dot(row1.xy, p) + row1.z).
uniform sampler2D u_bones;

vec2 bone_point(int bone, vec2 p) {
    vec4 r0 = texelFetch(u_bones, ivec2(bone, 0), 0);
    vec4 r1 = texelFetch(u_bones, ivec2(bone, 1), 0);
    return vec2(dot(r0.xy, p) + r0.z, dot(r1.xy, p) + r1.z);
}

vec2 skin(ivec4 bones, vec4 weights, vec4 p01, vec4 p23) {
    return weights.x * bone_point(bones.x, p01.xy)
         + weights.y * bone_point(bones.y, p01.zw)
         + weights.z * bone_point(bones.z, p23.xy)
         + weights.w * bone_point(bones.w, p23.zw);
}

// A vector (no translation) through a bone's linear part: parameter deform offsets are
// given in the frame of the slot's bone and added after weighting.
vec2 bone_vector(int bone, vec2 v) {
    vec4 r0 = texelFetch(u_bones, ivec2(bone, 0), 0);
    vec4 r1 = texelFetch(u_bones, ivec2(bone, 1), 0);
    return vec2(dot(r0.xy, v), dot(r1.xy, v));
}
