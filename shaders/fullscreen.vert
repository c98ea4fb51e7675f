#version 330 core
// One triangle that covers the viewport, from gl_VertexID alone (no vertex buffer):
// draw 3 vertices with an empty vertex array.

void main() {
    vec2 p = vec2(float((gl_VertexID << 1) & 2), float(gl_VertexID & 2));  // (0,0) (2,0) (0,2)
    gl_Position = vec4(p * 2.0 - 1.0, 0.0, 1.0);
}
