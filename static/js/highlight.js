// Syntax colours that pass WCAG AA (4.5:1) on the editor's background and on its active
// line, in light and in dark: CodeMirror's defaults and One Dark's do not (nor do One
// Dark's line numbers, 3.9:1).
import {
  EditorView, HighlightStyle, syntaxHighlighting, oneDarkTheme, tags as t,
} from '../vendor/codemirror.js';

const LIGHT = {
  keyword: '#7a1fa2', string: '#0a6b1f', number: '#a33a00', comment: '#5f6b7a',
  definition: '#0550ae', type: '#8a4b00', property: '#005f73', invalid: '#b00020',
};
const DARK = {
  keyword: '#d7a2ec', string: '#a8d48a', number: '#e5b07a', comment: '#9aa3b2',
  definition: '#7cc0ff', type: '#e9c98b', property: '#6fd0dc', invalid: '#ef9aa1',
};

function style(c) {
  return HighlightStyle.define([
    { tag: [t.keyword, t.controlKeyword, t.moduleKeyword, t.operatorKeyword, t.definitionKeyword, t.modifier], color: c.keyword },
    { tag: [t.string, t.special(t.string), t.regexp, t.escape], color: c.string },
    { tag: [t.number, t.bool, t.null, t.atom, t.self], color: c.number },
    { tag: [t.comment, t.lineComment, t.blockComment, t.docComment, t.meta], color: c.comment, fontStyle: 'italic' },
    { tag: [t.function(t.variableName), t.function(t.propertyName), t.definition(t.variableName), t.definition(t.propertyName)], color: c.definition },
    { tag: [t.typeName, t.className, t.namespace, t.standard(t.variableName)], color: c.type },
    { tag: [t.propertyName, t.labelName, t.attributeName], color: c.property },
    { tag: t.invalid, color: c.invalid },
    { tag: t.strong, fontWeight: 'bold' },
    { tag: t.emphasis, fontStyle: 'italic' },
    { tag: t.link, textDecoration: 'underline' },
  ]);
}

const light = syntaxHighlighting(style(LIGHT));
const darkGutters = EditorView.theme({ '.cm-gutters': { color: DARK.comment } }, { dark: true });
// First: of two themes, the one earlier in the list wins.
const dark = [darkGutters, oneDarkTheme, syntaxHighlighting(style(DARK))];

export const highlightFor = (isDark) => (isDark ? dark : light);
