// hostile_empty: broken image: an empty file.
  .globl start
  .set start, 0x1000
