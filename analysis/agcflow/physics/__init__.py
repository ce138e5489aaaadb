"""Analysis-independent physics building blocks: column layouts, flat jagged arrays, event weights."""
