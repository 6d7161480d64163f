// The editor modes a language may name (its editor_mode in sandbox/languages.py).
import { python, javascript } from '../vendor/codemirror.js';

const MODES = {
  python: () => python(),
  javascript: () => javascript(),
  typescript: () => javascript({ typescript: true }),
};

export const modeFor = (editorMode) => (MODES[editorMode] ?? (() => []))();
