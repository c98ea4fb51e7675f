#version 330 core
// The occlusion pre-pass (engine/render/renderer.py): each part's fully opaque core only
// writes depth, so the colour pass skips whatever a later part hides (llvmpipe tests depth
// before shading). No colour is written.
void main() {
}
