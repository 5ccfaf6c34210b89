// The public API of @vl/clip (browser entry). Explicit named exports only.

// --- tokenizer (src/tokenizer/) ---

// --- image preprocessing (src/image/) ---

// --- model (src/model/) ---
