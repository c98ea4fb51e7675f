#version 330 core
// Premultiplied RGBA -> yuv420p, one fragment per 4x2 block of the renderer's picture.
// The specification is engine/kernels/yuv.py (BT.601 limited range, 2x2 box chroma, one
// rounding at the end); tests/gl/test_video.py holds the two within a level.
//
// The targets are ceil(w/4) x h/2, rows numbered as glReadPixels returns them (row 0 first),
// so what is read back is top row first: fragment (bx, by) covers image pixels x = 4bx ..
// 4bx+3 of rows 2by (top) and 2by+1 (bottom), and writes each byte they decide: the two
// rows' four Y, the two 2x2 blocks' U and V, and in the packed layout the alpha half's Y
// (its chroma is 128 by the specification: grey has none; its ends are 0 and 255). A row of
// each target is then a row of its plane as it is (engine/render/video.py reads them into
// the I420 buffer). Why
// 4x2, not 2x2: llvmpipe's cost per fragment is more than its texel fetches (half the
// fragments: a fifth less CPU); past a width that is not a multiple of 4 the last
// fragment repeats the last column, whose bytes are not read back.
// The source texture is in GL order (bottom row first), so image row r is texel row h-1-r.

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

layout(location = 0) out vec4 f_y_top;         // Y of the colour, top row's four pixels
layout(location = 1) out vec4 f_y_bottom;      // ... bottom row's
layout(location = 2) out vec2 f_u;             // U of the left and the right 2x2 block
layout(location = 3) out vec2 f_v;
#ifdef PACKED
layout(location = 4) out vec4 f_alpha_top;     // Y of the alpha as grey
layout(location = 5) out vec4 f_alpha_bottom;
#endif

const float KR = 0.299;
const float KB = 0.114;
const float KG = 1.0 - KR - KB;

vec4 texel(int x, int r) {  // 0..255
    return texelFetch(u_src, ivec2(min(x, u_src_size.x - 1), u_src_size.y - 1 - r), 0) * 255.0;
}

vec3 behind(int x, int r) {  // what shows where the avatar does not, 0..255
#ifdef IMAGE
    return texelFetch(u_backdrop, ivec2(min(x, u_src_size.x - 1), u_src_size.y - 1 - r), 0).rgb
        * 255.0;
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

float u_of(vec3 m) {
    return quantize(128.0 + (224.0 / 255.0) * (m.b - luma(m)) / (2.0 * (1.0 - KB)));
}

float v_of(vec3 m) {
    return quantize(128.0 + (224.0 / 255.0) * (m.r - luma(m)) / (2.0 * (1.0 - KR)));
}

// The packed alpha half's Y: grey, but its two ends on the codes outside the studio range
// (0 and 255, not 16 and 235) so that codec noise cannot move them (engine/kernels/yuv.py).
float alpha_y(float a) {
    return a < 0.5 ? 0.0 : (a > 254.5 ? 1.0 : y_of(vec3(a)));
}

void main() {
    int x = 4 * int(gl_FragCoord.x);
    int r = 2 * int(gl_FragCoord.y);
    vec4 t[8];  // the top row's four texels, then the bottom row's
    vec3 c[8];  // their colours
    for (int i = 0; i < 4; i++) {
        t[i] = texel(x + i, r);
        t[4 + i] = texel(x + i, r + 1);
        c[i] = colour(t[i], x + i, r);
        c[4 + i] = colour(t[4 + i], x + i, r + 1);
    }
    f_y_top = vec4(y_of(c[0]), y_of(c[1]), y_of(c[2]), y_of(c[3]));
    f_y_bottom = vec4(y_of(c[4]), y_of(c[5]), y_of(c[6]), y_of(c[7]));
    vec3 left = 0.25 * (c[0] + c[1] + c[4] + c[5]);
    vec3 right = 0.25 * (c[2] + c[3] + c[6] + c[7]);
    f_u = vec2(u_of(left), u_of(right));
    f_v = vec2(v_of(left), v_of(right));
#if defined(PACKED) && (defined(OVER) || defined(IMAGE))
    f_alpha_top = f_alpha_bottom = vec4(1.0);  // the backdrop covers it all: solid
#elif defined(PACKED)
    f_alpha_top = vec4(alpha_y(t[0].a), alpha_y(t[1].a), alpha_y(t[2].a), alpha_y(t[3].a));
    f_alpha_bottom = vec4(alpha_y(t[4].a), alpha_y(t[5].a), alpha_y(t[6].a), alpha_y(t[7].a));
#endif
}
