import HoopDetectors
import HoopPolicy

/// The in-flight detectors as the database runs them, for free-text columns declared `detect`:
/// the view passes the column through `hoop.detect_text`, so every transformation a session
/// applies (`replace`, `reverse`, `::bytea`, base64) works on text already masked. The function
/// mirrors `BuiltinScanners` step for step (a differential test holds them to the same output)
/// and takes the detector set as constants written into the view.
///
/// It works on a copy of the value in which each non-ASCII character stands as that many
/// `\x01` bytes, so its offsets are the scanners' byte offsets and every class it tests is
/// ASCII; the output is rebuilt from the value's own bytes.
///
/// Reader roles get EXECUTE on it (a view's functions are checked against the caller) but no
/// USAGE on `hoop`, so a session cannot name it; were it reached, it holds no key and reads
/// nothing: on input of one's choice it tells only what the proxy's detectors tell too.
public enum DetectorSQL {
    static let signature = "hoop.detect_text(text, text[], text[], text, text, text[], text[])"

    /// The view column for a column declared `detect`.
    static func call(column: String, detectors: [Detector], schema: String = "hoop") -> String {
        var kinds: [BuiltinDetector] = [], strategies: [String] = [], patterns: [String] = [], patternStrategies: [String] = []
        for detector in detectors {
            switch detector.kind {
            case .builtin(let kind):
                // The first listing of a detector decides its strategy, as in the engine.
                if !kinds.contains(kind) { kinds.append(kind); strategies.append(code(detector.strategy)) }
            case .custom(_, let pattern):
                patterns.append(pattern)
                patternStrategies.append(code(detector.strategy))
            }
        }
        return "\(schema).detect_text(\(column)::text, \(array(kinds.map(\.rawValue))), \(array(strategies)), \(literal(starts(kinds))), "
            + "\(literal(fast(kinds, patterns: patterns))), \(array(patterns)), \(array(patternStrategies)))"
    }

    static func code(_ strategy: DetectorStrategy) -> String {
        switch strategy {
        case .redact: return "redact"
        case .partial(let keep): return "partial:\(keep)"
        }
    }

    /// Where a built-in match can start, one character each: at a word start, a character some
    /// detector can begin with (a digit, a capital for IBANs, `e` for JWTs, a key prefix's
    /// first letter), or `+` and `(` after a character that is not a word's. Positions where
    /// none can start are where the scanners find nothing either.
    static func starts(_ kinds: [BuiltinDetector]) -> String {
        var characters = ""
        if kinds.contains(where: { [.creditCard, .ssn, .phone].contains($0) }) { characters += "0-9" }
        if kinds.contains(.iban) { characters += "A-Z" }
        if kinds.contains(.jwt) { characters += "e" }
        if kinds.contains(.apiKey) {
            for first in Set(DetectorEngine.apiKeyFormats.map { $0.prefix.first! }).sorted() where !characters.contains(first)
            && !(characters.contains("A-Z") && first.isUppercase) {
                characters.append(first)
            }
        }
        var alternatives = characters.isEmpty ? [] : ["\\m[\(characters)]"]
        if kinds.contains(.phone) { alternatives.append("(?<![A-Za-z0-9_])[+(]") }
        return alternatives.joined(separator: "|")
    }

    static func escaped(_ literal: String) -> String { literal.replacingOccurrences(of: ".", with: "\\.") }

    /// What a value must contain for any detector to match: the fast way past the rest.
    static func fast(_ kinds: [BuiltinDetector], patterns: [String]) -> String {
        var alternatives: [String] = []
        if kinds.contains(.email) { alternatives.append("@") }
        if kinds.contains(where: { [.creditCard, .ssn, .phone].contains($0) }) { alternatives.append("[0-9]") }
        if kinds.contains(.iban) { alternatives.append("[A-Z]{2}[0-9]{2}") }
        if kinds.contains(.jwt) { alternatives.append("eyJ") }
        if kinds.contains(.apiKey) {
            alternatives += DetectorEngine.apiKeyFormats.map { escaped($0.prefix) }
        }
        alternatives += patterns.map { "(?:\($0))" }
        return alternatives.joined(separator: "|")
    }

    /// A string constant (standard_conforming_strings is on: only quotes are doubled).
    static func literal(_ text: String) -> String { "'" + text.replacingOccurrences(of: "'", with: "''") + "'" }

    static func array(_ items: [String]) -> String { "ARRAY[" + items.map(literal).joined(separator: ", ") + "]::text[]" }

    /// Installed by `target init`, owned by hoop_owner.
    static func function(in schema: String = "hoop") -> String { #"""
CREATE OR REPLACE FUNCTION \#(schema).detect_text(value text, kinds text[], strategies text[], starts text, fast text,
                                            patterns text[], pattern_strategies text[])
RETURNS text LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE
AS $function$
DECLARE
    p text := value;
    q text;
    src text;          -- the value with each non-ASCII character as that many \x01 bytes: offsets are byte offsets
    n integer;
    em_s integer[] := '{}';   -- addresses, found first (anchored on their @)
    em_e integer[] := '{}';
    m_s integer[] := '{}';    -- matches: start, end (exclusive), strategy
    m_e integer[] := '{}';
    m_k text[] := '{}';
    i integer;
    at integer;
    s integer;
    e integer;
    c integer;
    ei integer := 1;
    cands integer[] := '{}';
    ci integer := 1;
    pieces text[];
    pos integer;
    best_e integer;
    best_k text;
    k integer;
    ch text;
    k_card integer; k_ssn integer; k_phone integer; k_iban integer; k_jwt integer; k_api integer;
    j integer;
    a integer;
    t text;
    digits text;
    total integer;
    d integer;
    doubled boolean;
    cnt integer;
    header integer;
    payload integer;
    part integer;
    rem integer;
    seen integer;
    -- The key formats of the api_key detector, in the order it tries them (set when it is on).
    key_prefixes text[];
    key_minimums integer[];
    key_heads text[];
    key_upper boolean[];
    result bytea;
    bytes bytea;
    previous integer;
    keep integer;
    kept integer;
    len integer;
    builtin_count integer;
    order_s integer[];
    chosen_end integer;
BEGIN
    IF value !~ fast THEN RETURN value; END IF;
    IF octet_length(value) <> length(value) THEN
        p := regexp_replace(regexp_replace(regexp_replace(value, E'[\\u0080-\\u07ff]', E'\x01\x01', 'g'),
                                           E'[\\u0800-\\uffff]', E'\x01\x01\x01', 'g'), E'[\\U00010000-\\U0010ffff]', E'\x01\x01\x01\x01', 'g');
    END IF;
    -- Escape sequences read as the separators they stand for, as the in-flight scanners read
    -- them: a run of backslashes (one per layer of encoding) and what it escapes, one of
    -- bfnrtv"/ or u and four hex digits, all neutral; a run before anything else, neutral alone.
    -- p is done by bytes (for the built-ins), q by characters (for the custom patterns).
    q := value;
    IF strpos(value, E'\\') > 0 THEN
        FOR pass IN 1 .. 2 LOOP
            src := CASE pass WHEN 1 THEN p ELSE value END;
            len := length(src);
            t := '';
            i := 1;
            LOOP
                at := strpos(substr(src, i), E'\\');
                EXIT WHEN at = 0;
                at := i + at - 1;
                j := at;
                WHILE j <= len AND substr(src, j, 1) = E'\\' LOOP j := j + 1; END LOOP;
                IF j <= len AND strpos('bfnrtv"/', substr(src, j, 1)) > 0 THEN
                    e := j + 1;
                ELSIF j + 4 <= len AND substr(src, j, 5) ~ '^u[0-9A-Fa-f]{4}$' THEN
                    e := j + 5;
                ELSE
                    e := j;
                END IF;
                t := t || substr(src, i, at - i) || repeat(E'\x01', e - at);
                i := e;
            END LOOP;
            t := t || substr(src, i);
            IF pass = 1 THEN p := t; ELSE q := t; END IF;
        END LOOP;
    END IF;
    n := length(p);

    IF 'email' = ANY (kinds) THEN
        i := 1;
        LOOP
            at := strpos(substr(p, i), '@');
            EXIT WHEN at = 0;
            at := i + at - 1;
            s := at;
            WHILE s > 1 AND strpos('ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._%+-', substr(p, s - 1, 1)) > 0 LOOP
                s := s - 1;
            END LOOP;
            WHILE s < at AND substr(p, s, 1) = '.' LOOP s := s + 1; END LOOP;
            e := at + 1 + coalesce(length(substring(substr(p, at + 1) from '^[A-Za-z0-9.-]*')), 0);
            WHILE e > at + 1 AND substr(p, e - 1, 1) IN ('.', '-') LOOP e := e - 1; END LOOP;
            IF s < at AND e > at + 1 AND (cardinality(em_e) = 0 OR s >= em_e[cardinality(em_e)])
               AND substr(p, at + 1, e - at - 1) ~ E'^[A-Za-z0-9-]+(\\.[A-Za-z0-9-]+)*\\.[A-Za-z]{2,}$' THEN
                em_s := em_s || s;
                em_e := em_e || e;
                i := e;
            ELSE
                i := at + 1;
            END IF;
        END LOOP;
    END IF;

    -- Every position where a built-in can start, in one pass: the pieces between one-character
    -- matches of `starts` give their offsets.
    IF starts <> '' THEN
        c := 0;
        pieces := regexp_split_to_array(p, starts);
        FOR j IN 1 .. cardinality(pieces) - 1 LOOP
            c := c + length(pieces[j]) + 1;
            cands := cands || c;
        END LOOP;
    END IF;
    k_card := coalesce(array_position(kinds, 'credit_card'), 0);
    k_ssn := coalesce(array_position(kinds, 'ssn'), 0);
    k_phone := coalesce(array_position(kinds, 'phone'), 0);
    k_iban := coalesce(array_position(kinds, 'iban'), 0);
    k_jwt := coalesce(array_position(kinds, 'jwt'), 0);
    k_api := coalesce(array_position(kinds, 'api_key'), 0);
    i := 1;
    LOOP
        WHILE ei <= cardinality(em_s) AND em_s[ei] < i LOOP ei := ei + 1; END LOOP;
        WHILE ci <= cardinality(cands) AND cands[ci] < i LOOP ci := ci + 1; END LOOP;
        c := CASE WHEN ci <= cardinality(cands) THEN cands[ci] ELSE 0 END;
        pos := CASE WHEN ei <= cardinality(em_s) AND (c = 0 OR em_s[ei] < c) THEN em_s[ei] ELSE c END;
        EXIT WHEN pos = 0;
        best_e := pos;
        best_k := NULL;
        IF ei <= cardinality(em_s) AND em_s[ei] = pos THEN
            best_e := em_e[ei];
            best_k := strategies[array_position(kinds, 'email')];
        END IF;
        IF c = pos THEN
            -- Each kind of start character has its own detectors, which cannot end at the same
            -- place: the longest, or the address found at the same place, wins.
            ch := substr(p, pos, 1);
            a := ascii(ch);
            e := 0;
            -- Each detector first checks, without a regular expression, what its shape needs.
            IF a BETWEEN 48 AND 57 AND k_card > 0
               AND ltrim(left(translate(substr(p, pos, 39), ' -', ''), 13), '0123456789') = '' AND n - pos >= 12 THEN
                t := substring(substr(p, pos, 40) from '^[0-9](?:[ -]?[0-9]){0,19}');
                digits := regexp_replace(t, '[^0-9]', '', 'g');
                IF length(digits) BETWEEN 13 AND 19 AND (pos + length(t) > n OR substr(p, pos + length(t), 1) !~ '[A-Za-z0-9_]') THEN
                    total := 0;
                    doubled := false;
                    FOR j IN REVERSE length(digits) .. 1 LOOP
                        d := ascii(substr(digits, j, 1)) - 48;
                        IF doubled THEN d := d * 2; IF d > 9 THEN d := d - 9; END IF; END IF;
                        total := total + d;
                        doubled := NOT doubled;
                    END LOOP;
                    IF total % 10 = 0 AND pos + length(t) > best_e THEN best_e := pos + length(t); best_k := strategies[k_card]; END IF;
                END IF;
            END IF;
            IF a BETWEEN 48 AND 57 AND k_ssn > 0 AND substr(p, pos + 3, 1) = '-' AND substr(p, pos + 6, 1) = '-' THEN
                t := substr(p, pos, 11);
                IF t ~ '^[0-9]{3}-[0-9]{2}-[0-9]{4}$' AND (pos = 1 OR substr(p, pos - 1, 1) <> '-')
                   AND (pos + 11 > n OR substr(p, pos + 11, 1) !~ '[A-Za-z0-9_-]')
                   AND substr(t, 1, 3) NOT IN ('000', '666') AND substr(t, 1, 1) <> '9'
                   AND substr(t, 5, 2) <> '00' AND substr(t, 8, 4) <> '0000' AND pos + 11 > best_e THEN
                    best_e := pos + 11; best_k := strategies[k_ssn];
                END IF;
            END IF;
            IF (a BETWEEN 48 AND 57 OR a = 43 OR a = 40) AND k_phone > 0 THEN
                IF (pos = 1 OR substr(p, pos - 1, 1) <> '+')
                   AND ((a = 40 AND substr(p, pos + 4, 1) = ')') OR (a = 43 AND substr(p, pos + 1, 1) = '1')
                        OR (a BETWEEN 48 AND 57 AND (substr(p, pos + 3, 1) IN (' ', '.', '-') OR (a = 49 AND substr(p, pos + 1, 1) IN (' ', '.', '-'))))) THEN
                    t := substring(substr(p, pos, 24) from E'^(?:\\+1[ .-]|1[ .-](?=[0-9(]))?(?:\\([0-9]{3}\\) ?|[0-9]{3}[ .-])[0-9]{3}[ .-][0-9]{4}');
                    IF t IS NOT NULL AND (pos + length(t) > n OR NOT (substr(p, pos + length(t), 1) ~ '[A-Za-z0-9_]'
                             OR substr(p, pos + length(t), 2) ~ '^-[0-9]')) THEN
                        e := pos + length(t);
                    END IF;
                END IF;
                IF e = 0 AND a = 43 AND (pos = 1 OR substr(p, pos - 1, 1) <> '+') THEN
                    t := substring(substr(p, pos) from E'^\\+[0-9](?:[ .-]?[0-9])*');
                    IF t IS NOT NULL AND length(regexp_replace(t, '[^0-9]', '', 'g')) BETWEEN 8 AND 15
                       AND (pos + length(t) > n OR substr(p, pos + length(t), 1) !~ '[A-Za-z0-9_]') THEN
                        e := pos + length(t);
                    END IF;
                END IF;
                IF e > best_e THEN best_e := e; best_k := strategies[k_phone]; END IF;
            END IF;
            IF a BETWEEN 65 AND 90 AND k_iban > 0 AND pos + 14 <= n AND ascii(substr(p, pos + 1, 1)) BETWEEN 65 AND 90
               AND ascii(substr(p, pos + 2, 1)) BETWEEN 48 AND 57 AND ascii(substr(p, pos + 3, 1)) BETWEEN 48 AND 57 THEN
                -- Letters and digits, a single space allowed after each group of four, at most 34.
                j := pos;
                cnt := 0;
                s := pos;
                WHILE j <= n AND cnt < 34 LOOP
                    d := ascii(substr(p, j, 1));
                    IF d BETWEEN 65 AND 90 OR d BETWEEN 48 AND 57 THEN
                        cnt := cnt + 1; j := j + 1; s := j;
                    ELSIF d = 32 AND j + 1 <= n AND substr(p, j + 1, 1) ~ '[A-Z0-9]' AND cnt % 4 = 0 THEN
                        j := j + 1;
                    ELSE
                        EXIT;
                    END IF;
                END LOOP;
                IF cnt >= 15 AND (s > n OR substr(p, s, 1) !~ '[A-Za-z0-9_]') THEN
                    t := replace(substr(p, pos, s - pos), ' ', '');
                    t := substr(t, 5) || substr(t, 1, 4);
                    rem := 0;
                    FOR q IN 1 .. length(t) LOOP
                        d := ascii(substr(t, q, 1));
                        IF d < 65 THEN rem := (rem * 10 + d - 48) % 97; ELSE rem := (rem * 100 + d - 55) % 97; END IF;
                    END LOOP;
                    IF rem = 1 AND s > best_e THEN best_e := s; best_k := strategies[k_iban]; END IF;
                END IF;
            END IF;
            IF a = 101 AND k_jwt > 0 AND substr(p, pos + 1, 2) = 'yJ' AND (pos = 1 OR substr(p, pos - 1, 1) !~ '[A-Za-z0-9_-]') THEN
                t := substring(substr(p, pos) from E'^[A-Za-z0-9_-]*\\.[A-Za-z0-9_-]*\\.[A-Za-z0-9_-]*');
                IF t IS NOT NULL AND length(split_part(t, '.', 1)) >= 10 AND length(split_part(t, '.', 2)) >= 10 AND pos + length(t) > best_e THEN
                    best_e := pos + length(t); best_k := strategies[k_jwt];
                END IF;
            END IF;
            IF k_api > 0 AND key_heads IS NULL THEN
                key_prefixes := \#(array(DetectorEngine.apiKeyFormats.map(\.prefix)));
                key_minimums := ARRAY[\#(DetectorEngine.apiKeyFormats.map { String($0.minimum) }.joined(separator: ", "))];
                key_heads := \#(array(Array(Set(DetectorEngine.apiKeyFormats.map { String($0.prefix.prefix(2)) })).sorted()));
                key_upper := ARRAY[\#(DetectorEngine.apiKeyFormats.map { String($0.upperDigitsOnly) }.joined(separator: ", "))];
            END IF;
            IF k_api > 0 AND substr(p, pos, 2) = ANY (key_heads) AND (pos = 1 OR substr(p, pos - 1, 1) !~ '[A-Za-z0-9_-]') THEN
                FOR f IN 1 .. cardinality(key_prefixes) LOOP
                    IF pos + length(key_prefixes[f]) + key_minimums[f] - 1 <= n AND substr(p, pos, length(key_prefixes[f])) = key_prefixes[f] THEN
                        t := substring(substr(p, pos + length(key_prefixes[f])) from CASE WHEN key_upper[f] THEN '^[A-Z0-9]*' ELSE '^[A-Za-z0-9_.-]*' END);
                        IF length(t) >= key_minimums[f] THEN
                            IF pos + length(key_prefixes[f]) + length(t) > best_e THEN
                                best_e := pos + length(key_prefixes[f]) + length(t); best_k := strategies[k_api];
                            END IF;
                            EXIT;
                        END IF;
                    END IF;
                END LOOP;
            END IF;
        END IF;
        IF best_k IS NOT NULL THEN
            m_s := m_s || pos; m_e := m_e || best_e; m_k := m_k || best_k;
            i := best_e;
        ELSE
            i := pos + 1;
        END IF;
    END LOOP;

    -- Custom detectors: regular expressions over the value, their matches merged with the built-ins'.
    builtin_count := cardinality(m_s);
    FOR k IN 1 .. coalesce(cardinality(patterns), 0) LOOP
        CONTINUE WHEN q !~ patterns[k];
        c := 1;
        LOOP
            s := regexp_instr(q, patterns[k], c);
            EXIT WHEN s = 0;
            e := regexp_instr(q, patterns[k], c, 1, 1);
            IF e > s THEN
                m_s := m_s || (octet_length(substr(value, 1, s - 1)) + 1);
                m_e := m_e || (octet_length(substr(value, 1, e - 1)) + 1);
                m_k := m_k || pattern_strategies[k];
                c := e;
            ELSE
                c := s + 1;
            END IF;
            EXIT WHEN c > length(value);
        END LOOP;
    END LOOP;
    IF cardinality(m_s) = 0 THEN RETURN value; END IF;
    IF cardinality(m_s) > builtin_count AND cardinality(m_s) > 1 THEN
        SELECT array_agg(o ORDER BY m_s[o], m_e[o] - m_s[o] DESC) INTO order_s FROM generate_subscripts(m_s, 1) o;
        chosen_end := 0;
        SELECT array_agg(m_s[o] ORDER BY ord), array_agg(m_e[o] ORDER BY ord), array_agg(m_k[o] ORDER BY ord)
        INTO m_s, m_e, m_k
        FROM (SELECT o, ord FROM unnest(order_s) WITH ORDINALITY AS u(o, ord)) x;
        -- greedy: leftmost first, the longest where two start together
        DECLARE
            f_s integer[] := '{}'; f_e integer[] := '{}'; f_k text[] := '{}';
        BEGIN
            FOR j IN 1 .. cardinality(m_s) LOOP
                IF cardinality(f_e) = 0 OR m_s[j] >= f_e[cardinality(f_e)] THEN
                    f_s := f_s || m_s[j]; f_e := f_e || m_e[j]; f_k := f_k || m_k[j];
                END IF;
            END LOOP;
            m_s := f_s; m_e := f_e; m_k := f_k;
        END;
    END IF;

    bytes := convert_to(value, 'UTF8');
    result := ''::bytea;
    previous := 1;
    FOR j IN 1 .. cardinality(m_s) LOOP
        result := result || substring(bytes from previous for m_s[j] - previous);
        len := m_e[j] - m_s[j];
        IF m_k[j] = 'redact' THEN
            result := result || convert_to('[redacted]', 'UTF8');
        ELSE
            keep := split_part(m_k[j], ':', 2)::integer;
            kept := least(keep, len / 2);
            result := result || convert_to(repeat('*', len - kept), 'UTF8') || substring(bytes from m_e[j] - kept for kept);
        END IF;
        previous := m_e[j];
    END LOOP;
    result := result || substring(bytes from previous);
    RETURN convert_from(result, 'UTF8');
END
$function$
"""#
    }
}
