// A render style's eye highlights (engine/render/looks.py EYE_HIGHLIGHTS), drawn on the
// iris pictures over their own art, in the picture's own coordinates (0..1, v down).
// Only on the iris's own texels: the lids drawn after it still cover them.
flat in int v_eye;
noperspective in vec2 v_eye_uv;
uniform int u_eye_style;  // 1 sparkle, 2 soft, 3 gloss

float disc(vec2 uv, vec2 centre, float radius) {
    // anti-aliased over about a texel of the picture
    float d = length((uv - centre) / radius);
    return 1.0 - smoothstep(1.0 - 0.18, 1.0 + 0.18, d);
}

vec4 eye_highlight(vec4 c, vec2 uv) {
    if (c.a <= 0.0) {
        return c;
    }
    vec3 rgb = c.rgb / c.a;
    if (u_eye_style == 1) {
        // sparkle: the lower iris lit from within, and a second, small catchlight
        rgb = mix(rgb, min(rgb * 1.35 + 0.05, vec3(1.0)), smoothstep(0.55, 0.9, uv.y));
        rgb = mix(rgb, vec3(1.0), disc(uv, vec2(0.66, 0.7), 0.085));
        rgb = mix(rgb, vec3(1.0), 0.85 * disc(uv, vec2(0.33, 0.74), 0.05));
    } else if (u_eye_style == 2) {
        // soft: the upper lid's shadow falls over the iris, the art's highlight stays
        float shade = mix(0.62, 1.0, smoothstep(0.12, 0.55, uv.y));
        float highlight = smoothstep(0.75, 0.9, dot(rgb, vec3(0.2126, 0.7152, 0.0722)));
        rgb *= mix(shade, 1.0, highlight);
    } else if (u_eye_style == 3) {
        // gloss: a hard crescent of reflected light along the iris's lower rim
        float r = length(uv - vec2(0.5, 0.48));
        float crescent = step(0.3, r) * step(r, 0.42) * smoothstep(0.6, 0.72, uv.y);
        rgb = mix(rgb, min(rgb + 0.45, vec3(1.0)), crescent);
    }
    return vec4(rgb * c.a, c.a);
}
