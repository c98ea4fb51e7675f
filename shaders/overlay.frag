#version 330 core
// An effect's overlay frame (premultiplied RGBA) stretched over a rectangle of the
// renderer's output: drawn with the viewport set to that rectangle, blended by the GL
// blend function of the effect's mode (engine/render/overlay.py; numpy reference:
// engine/effects.py composite).
uniform sampler2D u_frame;
uniform vec2 u_origin;   // the rectangle's lower-left corner, in pixels (GL rows)
uniform vec2 u_extent;   // its width and height, in pixels
uniform float u_opacity;
out vec4 frag;

void main() {
    vec2 uv = (gl_FragCoord.xy - u_origin) / u_extent;
    frag = texture(u_frame, uv) * u_opacity;
}
