/**
 * Prompt-injection pre-screen: does a judged text address the judge instead of validating the prescription?
 *
 * PATTERNS is a copy of src/amr_grpo/judge/injection.py PATTERNS, one String.raw literal per pattern, in the
 * same order (tests/service/test_edge_function.py fails if they differ). A hit sets flags.injection_suspected.
 * Try it: deno test --allow-read --allow-net=127.0.0.1 (in this folder)
 */

// deno-fmt-ignore
export const PATTERNS: readonly string[] = [
  String.raw`\bignore\s+(?:all\s+|any\s+|the\s+|your\s+|previous\s+|prior\s+|above\s+|earlier\s+)*(?:rubric|instructions?|rules?|criteria|guidelines?\s+for\s+scoring|scoring|prompt|system\s+prompt)`,
  String.raw`\bdisregard\s+(?:all\s+|any\s+|the\s+|your\s+|previous\s+|prior\s+|above\s+)*(?:rubric|instructions?|rules?|criteria|scoring|prompt)`,
  String.raw`\b(?:(?:give|award|assign)\s+(?:this|it|me|us|the\s+(?:answer|response|output|validation))?|(?:rate|score|grade|mark)\s+(?:this|it|me|us|the\s+(?:answer|response|output|validation)))\s*(?:an?\s+|a\s+score\s+of\s+|with\s+|as\s+)?(?:(?:5|five|10|ten|100)\s*(?:/\s*(?:5|10|100)|out\s+of\s+(?:5|10|100)|points?|marks?|stars?|%)|(?:full|perfect|maximum|max|top|highest)\s+(?:score|marks?|points?|rating|grade)s?)`,
  String.raw`(?<!pain )(?<!power )(?<!motor )(?<!apgar )\b(?:scores?|scored|rating|rated|grades?|graded|marks?|points?)\s*(?:of|is|:|=|-)?\s*(?:(?:5|five)\s*/\s*5|(?:10|ten)\s*/\s*10)\b|\bfull\s+marks\b|\bperfect\s+score\b`,
  String.raw`\b(?:as|to|for|dear|attention|note\s+(?:to|for))\s+(?:the\s+|an?\s+|any\s+)?(?:ai\s+|llm\s+)?(?:judge|grader|evaluator|assessor|scorer|reviewer\s+model|reward\s+model)s?\b`,
  String.raw`\byou\s+(?:must|should|will|shall|have\s+to|need\s+to)\s+(?:score|rate|grade|award|give|mark|evaluate)\b`,
  String.raw`(?:^|\n)\s*(?:<\|?\s*)?(?:system|assistant|developer)\s*(?:\|?>|:)`,
  String.raw`</?\s*(?:system|instructions?|judge|rubric)\s*>`,
  String.raw`\b(?:new|updated|override|overriding)\s+(?:instructions?|rubric|scoring\s+rules?)\b`,
  String.raw`\bthis\s+(?:answer|response|output|validation)\s+(?:is|deserves)\s+(?:perfect|flawless|correct\s+and\s+deserves|the\s+best)`,
  String.raw`\b(?:all|every)\s+metrics?\s+(?:should|must)\s+(?:be|get|receive)\b`,
  String.raw`\bjailbreak\b|\bprompt\s+injection\b|\bdeveloper\s+mode\b`,
];
const ANY = new RegExp(PATTERNS.map((p) => `(?:${p})`).join("|"), "i");

/** True when the text addresses the judge (asks for a score, overrides instructions, fakes a system turn). */
export function screen(text: string | null | undefined): boolean {
  return !!text && ANY.test(text);
}
