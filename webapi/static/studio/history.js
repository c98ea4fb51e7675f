// The studio's undo history: every edit is an entry {label, undo(), redo()} with a cursor
// between the done and the undone ones. A new edit drops what was undone after the cursor
// (the usual editor rule). Entries carrying `data` (a JSON value: the customizations edits
// main.js records) can be saved and rebuilt, so the history survives a reload.

const LIMIT = 200; // entries kept; the oldest go first (a long session must not grow forever)

export class History {
  constructor() {
    this.entries = [];
    this.cursor = 0; // entries[0..cursor) are done
    this.listeners = [];
  }

  /** Record an edit that has already been made. */
  push(entry) {
    if (typeof entry?.undo !== "function" || typeof entry?.redo !== "function") {
      throw new TypeError("a history entry needs undo() and redo()");
    }
    this.entries.splice(this.cursor);
    this.entries.push({ label: String(entry.label ?? "edit"), undo: entry.undo, redo: entry.redo, data: entry.data });
    if (this.entries.length > LIMIT) this.entries.shift();
    this.cursor = this.entries.length;
    this.changed();
  }

  get canUndo() { return this.cursor > 0; }
  get canRedo() { return this.cursor < this.entries.length; }
  /** The label of what undo (or redo) would do: the buttons' titles. */
  get undoLabel() { return this.canUndo ? this.entries[this.cursor - 1].label : null; }
  get redoLabel() { return this.canRedo ? this.entries[this.cursor].label : null; }

  undo() {
    if (!this.canUndo) return false;
    this.cursor -= 1;
    this.entries[this.cursor].undo();
    this.changed();
    return true;
  }

  redo() {
    if (!this.canRedo) return false;
    const entry = this.entries[this.cursor];
    this.cursor += 1;
    entry.redo();
    this.changed();
    return true;
  }

  clear() {
    this.entries = [];
    this.cursor = 0;
    this.changed();
  }

  /** The entries that carry data, and the cursor counted among them: JSON for storage. */
  serialize() {
    const kept = [];
    let cursor = 0;
    this.entries.forEach((e, i) => {
      if (e.data === undefined) return;
      kept.push({ label: e.label, data: e.data });
      if (i < this.cursor) cursor = kept.length;
    });
    return { entries: kept, cursor };
  }

  /** Rebuild from `serialize()`'s value; `make(data)` gives back {undo, redo}. */
  restore(saved, make) {
    this.entries = (saved?.entries ?? []).map((e) => ({ label: e.label, data: e.data, ...make(e.data) }));
    const cursor = Number(saved?.cursor);
    this.cursor = Number.isInteger(cursor) && cursor >= 0 && cursor <= this.entries.length ? cursor : this.entries.length;
    this.changed();
  }

  /** `fn(history)` after every change (the buttons, the saved copy). */
  onChange(fn) { this.listeners.push(fn); }

  changed() { for (const fn of this.listeners) fn(this); }
}
