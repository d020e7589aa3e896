import { describe, expect, it } from 'vitest';
import { hasPvhNote } from './kernel-image.js';
import { parseMetaDepends } from './kernel.js';

/** A minimal ELF64 with one PT_NOTE segment holding the given notes. */
function elfWithNotes(notes: { name: string; type: number; desc: Buffer }[]): Buffer {
  const pad4 = (b: Buffer) => Buffer.concat([b, Buffer.alloc((4 - (b.length % 4)) % 4)]);
  const noteBytes = Buffer.concat(
    notes.map((n) => {
      const name = Buffer.from(n.name + '\0', 'latin1');
      const head = Buffer.alloc(12);
      head.writeUInt32LE(name.length, 0);
      head.writeUInt32LE(n.desc.length, 4);
      head.writeUInt32LE(n.type, 8);
      return Buffer.concat([head, pad4(name), pad4(n.desc)]);
    }),
  );
  const eh = Buffer.alloc(64);
  eh.writeUInt32BE(0x7f454c46, 0);
  eh[4] = 2; // ELFCLASS64
  eh[5] = 1; // little endian
  eh.writeBigUInt64LE(64n, 32); // e_phoff
  eh.writeUInt16LE(56, 54); // e_phentsize
  eh.writeUInt16LE(1, 56); // e_phnum
  const ph = Buffer.alloc(56);
  ph.writeUInt32LE(4, 0); // PT_NOTE
  ph.writeBigUInt64LE(120n, 8); // p_offset
  ph.writeBigUInt64LE(BigInt(noteBytes.length), 32); // p_filesz
  return Buffer.concat([eh, ph, noteBytes]);
}

describe('hasPvhNote', () => {
  it('finds XEN_ELFNOTE_PHYS32_ENTRY after other notes', () => {
    const elf = elfWithNotes([
      { name: 'Linux', type: 6, desc: Buffer.from('6.1.0\0') },
      { name: 'Xen', type: 18, desc: Buffer.alloc(8) },
    ]);
    expect(hasPvhNote(elf)).toBe(true);
  });

  it('is false without it, and for non-ELF data', () => {
    expect(hasPvhNote(elfWithNotes([{ name: 'Xen', type: 6, desc: Buffer.alloc(4) }]))).toBe(false);
    expect(
      hasPvhNote(Buffer.from('MZ not an elf at all, just some bytes to be long enough.........')),
    ).toBe(false);
  });
});

describe('parseMetaDepends', () => {
  it('finds the concrete kernel of the meta package', () => {
    expect(parseMetaDepends('linux-image-amd64\n  Depends: linux-image-6.1.0-56-amd64\n')).toBe(
      'linux-image-6.1.0-56-amd64',
    );
    expect(
      parseMetaDepends('linux-image-6.1.0-56-amd64\n  Depends: kmod\n  Depends: linux-base\n'),
    ).toBeUndefined();
  });
});
