#version 330 core
// Premultiplied RGBA -> yuv420p, one fragment per 2x2 block of the renderer's picture.
// The specification is engine/kernels/yuv.py (BT.601 limited range, 2x2 box chroma, one
// rounding at the end); tests/gl/test_video.py holds the two within a level.
//
// The targets are w/2 x h/2, rows numbered as glReadPixels returns them (row 0 first), so
// what is read back is top row first: fragment (bx, by) covers image pixels x = 2bx, 2bx+1
// of rows 2by (top) and 2by+1 (bottom). The source texture is in GL order (bottom row
// first), so image row r is texel row h - 1 - r. Each fragment fetches its four texels
// once and writes every byte they decide: two Y pairs, U and V, and in the packed layout
// the alpha half's two Y pairs (its chroma is 128 by the specification: grey has none).
// engine/render/video.py interleaves the Y rows into the I420 buffer.

uniform sampler2D u_src;    // the renderer's output: premultiplied RGBA8, w x h
uniform ivec2 u_src_size;   // w, h
// The layout is a compile-time choice (engine/render/video.py defines PACKED for "packed";
// without it: "opaque", over u_background): llvmpipe would run both sides of a branch on a
// uniform, and the opaque layout's fragments would compute alpha planes nobody reads.
uniform vec3 u_background;  // opaque background, 0..255
// A scene's backdrop (engine/render/video.py set_backdrop) is a variant too: OVER composites
// the packed layout over u_background (its alpha half then 255), IMAGE over a picture at the
// source's size and row order (u_backdrop, RGB8) in either layout.
#ifdef IMAGE
uniform sampler2D u_backdrop;
#endif

layout(location = 0) out vec2 f_y_top;         // Y of the colour, top row's two pixels
layout(location = 1) out vec2 f_y_bottom;      // ... bottom row's
layout(location = 2) out float f_u;
layout(location = 3) out float f_v;
#ifdef PACKED
layout(location = 4) out vec2 f_alpha_top;     // Y of the alpha as grey
layout(location = 5) out vec2 f_alpha_bottom;
#endif

const float KR = 0.299;
const float KB = 0.114;
const float KG = 1.0 - KR - KB;

vec4 texel(int x, int r) {  // 0..255
    return texelFetch(u_src, ivec2(x, u_src_size.y - 1 - r), 0) * 255.0;
}

vec3 behind(int x, int r) {  // what shows where the avatar does not, 0..255
#ifdef IMAGE
    return texelFetch(u_backdrop, ivec2(x, u_src_size.y - 1 - r), 0).rgb * 255.0;
#else
    return u_background;
#endif
}

vec3 colour(vec4 t, int x, int r) {  // the frame's RGB, 0..255
#if defined(PACKED) && !defined(OVER) && !defined(IMAGE)
    return t.rgb;  // over black
#else
    return clamp(t.rgb + behind(x, r) * (1.0 - t.a / 255.0), 0.0, 255.0);
#endif
}

float luma(vec3 c) {
    return KR * c.r + KG * c.g + KB * c.b;
}

float quantize(float v) {  // floor(v + 0.5) as an exact R8/RG8 value
    return clamp(floor(v + 0.5), 0.0, 255.0) / 255.0;
}

float y_of(vec3 c) {
    return quantize(16.0 + (219.0 / 255.0) * luma(c));
}

void main() {
    int x = 2 * int(gl_FragCoord.x);
    int r = 2 * int(gl_FragCoord.y);
    vec4 ta = texel(x, r), tb = texel(x + 1, r), tc = texel(x, r + 1), td = texel(x + 1, r + 1);
    vec3 a = colour(ta, x, r), b = colour(tb, x + 1, r);
    vec3 c = colour(tc, x, r + 1), d = colour(td, x + 1, r + 1);
    f_y_top = vec2(y_of(a), y_of(b));
    f_y_bottom = vec2(y_of(c), y_of(d));
    vec3 m = 0.25 * (a + b + c + d);
    float l = luma(m);
    f_u = quantize(128.0 + (224.0 / 255.0) * (m.b - l) / (2.0 * (1.0 - KB)));
    f_v = quantize(128.0 + (224.0 / 255.0) * (m.r - l) / (2.0 * (1.0 - KR)));
#if defined(PACKED) && (defined(OVER) || defined(IMAGE))
    f_alpha_top = f_alpha_bottom = vec2(y_of(vec3(255.0)));  // the backdrop covers it all
#elif defined(PACKED)
    f_alpha_top = vec2(y_of(vec3(ta.a)), y_of(vec3(tb.a)));
    f_alpha_bottom = vec2(y_of(vec3(tc.a)), y_of(vec3(td.a)));
#endif
}
