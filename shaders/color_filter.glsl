// The seed's colour filter: hue (degrees), saturation, brightness and contrast (1 = none),
// applied to straight (un-premultiplied) colour.
vec3 rgb_to_hsv(vec3 c) {
    vec4 K = vec4(0.0, -1.0 / 3.0, 2.0 / 3.0, -1.0);
    vec4 p = mix(vec4(c.bg, K.wz), vec4(c.gb, K.xy), step(c.b, c.g));
    vec4 q = mix(vec4(p.xyw, c.r), vec4(c.r, p.yzx), step(p.x, c.r));
    float d = q.x - min(q.w, q.y);
    float e = 1.0e-10;
    return vec3(abs(q.z + (q.w - q.y) / (6.0 * d + e)), d / (q.x + e), q.x);
}

vec3 hsv_to_rgb(vec3 c) {
    vec3 p = abs(fract(c.xxx + vec3(1.0, 2.0 / 3.0, 1.0 / 3.0)) * 6.0 - 3.0);
    return c.z * mix(vec3(1.0), clamp(p - 1.0, 0.0, 1.0), c.y);
}

// filter = (hue degrees, saturation, brightness, contrast)
vec3 color_filter(vec3 rgb, vec4 f) {
    if (f == vec4(0.0, 1.0, 1.0, 1.0)) {
        return rgb;
    }
    vec3 hsv = rgb_to_hsv(rgb);
    hsv.x = fract(hsv.x + f.x / 360.0);
    hsv.y = clamp(hsv.y * f.y, 0.0, 1.0);
    vec3 c = hsv_to_rgb(hsv) * f.z;
    c = (c - 0.5) * f.w + 0.5;
    return clamp(c, 0.0, 1.0);
}
