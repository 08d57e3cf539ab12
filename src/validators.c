/*-------------------------------------------------------------------------
 * validators.c
 *	  Value validators for discovery: mainland mobile and landline numbers,
 *	  resident ID numbers (GB 11643), e-mail, IP and MAC addresses, bank cards
 *	  (Luhn), passports, GPS coordinates and dates of birth.
 *
 * Each is strict enough not to fire on random data: checksums are checked,
 * number segments and region codes must exist, dates must be real dates.  A
 * validator only says yes or no; it never keeps or copies the value.  They use
 * no server state (today's date is an argument), so a fuzzer can call them
 * without a server.
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <arpa/inet.h>

#include "validators.h"

#define IS_DIGIT(c) ((c) >= '0' && (c) <= '9')
#define IS_UPPER(c) ((c) >= 'A' && (c) <= 'Z')
#define IS_ALPHA(c) (IS_UPPER(c) || ((c) >= 'a' && (c) <= 'z'))
#define IS_ALNUM(c) (IS_DIGIT(c) || IS_ALPHA(c))
#define IS_HEX(c) (IS_DIGIT(c) || ((c) >= 'a' && (c) <= 'f') || ((c) >= 'A' && (c) <= 'F'))

/* ------------------------------------------------------------------------
 * Helpers
 * ------------------------------------------------------------------------
 */
static bool
val_leap(int y)
{
	return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

/* a real calendar date */
static bool
val_date_ok(int y, int m, int d)
{
	static const int mdays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};

	if (m < 1 || m > 12 || d < 1)
		return false;
	return d <= mdays[m - 1] + (m == 2 && val_leap(y) ? 1 : 0);
}

/* -1, 0, 1 as (y, m, d) is before, on or after *t */
static int
val_date_cmp(int y, int m, int d, const ValidatorDate *t)
{
	if (y != t->year)
		return y < t->year ? -1 : 1;
	if (m != t->month)
		return m < t->month ? -1 : 1;
	if (d != t->day)
		return d < t->day ? -1 : 1;
	return 0;
}

/* n digits at s as a number; false unless all are digits */
static bool
val_number(const char *s, int n, int *out)
{
	int			v = 0;
	int			i;

	for (i = 0; i < n; i++)
	{
		if (!IS_DIGIT(s[i]))
			return false;
		v = v * 10 + (s[i] - '0');
	}
	*out = v;
	return true;
}

/*
 * Digits of a number written in groups: separators (space or dash, one kind)
 * may stand only where the group sizes allow.  "stops" lists the digit counts
 * after which a separator may come; either all of them are there or none.
 */
static int
val_grouped_digits(const char *s, int len, char *out, int maxdigits,
				   const int *stops, int nstops)
{
	int			n = 0;
	int			nsep = 0;
	char		sep = 0;
	int			i;

	for (i = 0; i < len; i++)
	{
		char		c = s[i];

		if (IS_DIGIT(c))
		{
			if (n >= maxdigits)
				return -1;
			out[n++] = c;
		}
		else if (c == ' ' || c == '-')
		{
			if (nsep >= nstops || stops[nsep] != n || (sep && sep != c) ||
				i + 1 >= len || !IS_DIGIT(s[i + 1]))
				return -1;
			sep = c;
			nsep++;
		}
		else
			return -1;
	}
	if (nsep != 0 && nsep != nstops)
		return -1;
	return n;
}

/* ------------------------------------------------------------------------
 * Mainland mobile numbers: 11 digits in an allocated segment, written
 * 13812345678, 138 1234 5678, 138-1234-5678, with +86, 0086 or 86 before
 * ------------------------------------------------------------------------
 */
static bool
val_mobile_body(const char *s, int len)
{
	static const int stops[] = {3, 7};
	char		d[11];

	if (val_grouped_digits(s, len, d, 11, stops, 2) != 11 || d[0] != '1')
		return false;
	switch (d[1])
	{
		case '3':
		case '8':
			return true;
		case '4':
			return d[2] >= '5';
		case '5':
			return d[2] != '4';
		case '6':
			return d[2] == '2' || d[2] == '5' || d[2] == '6' || d[2] == '7';
		case '7':
			return d[2] != '9';
		case '9':
			return d[2] != '4';
		default:
			return false;
	}
}

/* skip a country code: +86, 0086, or 86 when 11 digits follow */
static bool
val_mobile(const char *s, int len, const ValidatorDate *today)
{
	int			skip = 0;

	if (len >= 3 && s[0] == '+' && s[1] == '8' && s[2] == '6')
		skip = 3;
	else if (len >= 4 && memcmp(s, "0086", 4) == 0)
		skip = 4;
	else if (len == 13 && s[0] == '8' && s[1] == '6')
		skip = 2;
	else if (len >= 3 && s[0] == '8' && s[1] == '6' && (s[2] == ' ' || s[2] == '-'))
		skip = 2;
	if (skip > 0 && skip < len && (s[skip] == ' ' || s[skip] == '-'))
		skip++;
	if (skip == 0 && len > 0 && !IS_DIGIT(s[0]))
		return false;
	return val_mobile_body(s + skip, len - skip);
}

/* ------------------------------------------------------------------------
 * Mainland landline numbers, always with the area code and a separator:
 * 010-12345678, 0571 8888 6666, (021)62345678, with an optional -extension
 * ------------------------------------------------------------------------
 */
static bool
val_landline(const char *s, int len, const ValidatorDate *today)
{
	int			i = 0;
	int			area;
	int			local = 0;
	bool		paren = false;

	if (len > 0 && s[0] == '(')
	{
		paren = true;
		i = 1;
	}
	if (i + 3 > len || s[i] != '0' || !IS_DIGIT(s[i + 1]) || s[i + 1] == '0')
		return false;
	/* 010 and 02x are three digits long, the others four */
	area = (s[i + 1] == '1' || s[i + 1] == '2') ? 3 : 4;
	if (s[i + 1] == '1' && s[i + 2] != '0')
		return false;
	if (i + area > len || !val_number(s + i, area, &local))
		return false;
	i += area;
	if (paren)
	{
		if (i >= len || s[i] != ')')
			return false;
		i++;
		if (i < len && s[i] == ' ')
			i++;
	}
	else
	{
		if (i >= len || (s[i] != '-' && s[i] != ' '))
			return false;
		i++;
	}
	/* the local number: 7 or 8 digits, not starting with 0, 1 or 9 */
	if (i >= len || s[i] < '2' || s[i] > '8')
		return false;
	local = 0;
	while (i < len && IS_DIGIT(s[i]))
	{
		local++;
		i++;
	}
	if (local < 7 || local > 8)
		return false;
	if (i == len)
		return true;
	/* an extension */
	if (s[i] != '-' || i + 1 >= len || len - (i + 1) > 5)
		return false;
	for (i++; i < len; i++)
		if (!IS_DIGIT(s[i]))
			return false;
	return true;
}

/* ------------------------------------------------------------------------
 * Resident identity card numbers (GB 11643-1999): a province code, a real
 * birth date not in the future, and the ISO 7064 MOD 11-2 check character
 * ------------------------------------------------------------------------
 */
static bool
val_id_number(const char *s, int len, const ValidatorDate *today)
{
	static const int weights[17] = {7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2};
	static const char checks[] = "10X98765432";
	int			province;
	int			y,
				m,
				d;
	int			sum = 0;
	int			i;
	char		last;

	if (len != 18)
		return false;
	for (i = 0; i < 17; i++)
	{
		if (!IS_DIGIT(s[i]))
			return false;
		sum += (s[i] - '0') * weights[i];
	}
	last = s[17] == 'x' ? 'X' : s[17];
	if (last != checks[sum % 11])
		return false;
	province = (s[0] - '0') * 10 + (s[1] - '0');
	if (!((province >= 11 && province <= 15) || (province >= 21 && province <= 23) ||
		  (province >= 31 && province <= 37) || (province >= 41 && province <= 46) ||
		  (province >= 50 && province <= 54) || (province >= 61 && province <= 65) ||
		  province == 71 || province == 81 || province == 82 || province == 83))
		return false;
	if (!val_number(s + 6, 4, &y) || !val_number(s + 10, 2, &m) || !val_number(s + 12, 2, &d))
		return false;
	return y >= 1900 && val_date_ok(y, m, d) && val_date_cmp(y, m, d, today) <= 0;
}

/* ------------------------------------------------------------------------
 * E-mail addresses: local@domain, ASCII, a domain of at least two labels
 * whose last is letters only
 * ------------------------------------------------------------------------
 */
static bool
val_email(const char *s, int len, const ValidatorDate *today)
{
	int			at = -1;
	int			i;
	int			labels = 0;
	int			label_start;
	bool		tld_alpha = true;

	for (i = 0; i < len; i++)
	{
		if (s[i] == '@')
		{
			if (at >= 0)
				return false;
			at = i;
		}
	}
	if (at < 1 || at > 64 || len - at - 1 < 4)
		return false;
	/* the local part */
	if (s[0] == '.' || s[at - 1] == '.')
		return false;
	for (i = 0; i < at; i++)
	{
		char		c = s[i];

		if (!(IS_ALNUM(c) || c == '.' || c == '_' || c == '%' || c == '+' || c == '-'))
			return false;
		if (c == '.' && s[i + 1] == '.')
			return false;
	}
	/* the domain */
	label_start = at + 1;
	for (i = at + 1; i <= len; i++)
	{
		if (i == len || s[i] == '.')
		{
			int			llen = i - label_start;

			if (llen < 1 || llen > 63 || s[label_start] == '-' || s[i - 1] == '-')
				return false;
			labels++;
			if (i == len)
				return llen >= 2 && tld_alpha && labels >= 2;
			label_start = i + 1;
			tld_alpha = true;
		}
		else if (IS_ALPHA(s[i]))
			continue;
		else if (IS_DIGIT(s[i]) || s[i] == '-')
			tld_alpha = false;
		else
			return false;
	}
	return false;
}

/* ------------------------------------------------------------------------
 * IP addresses.  Dotted quads are split in two: those with an octet of 64 or
 * more ("ip"), and those whose octets are all small ("ip_low"), which version
 * strings (1.2.3.4, 10.4.2.1) look like; the latter count only when the
 * column's name says it holds addresses.
 * ------------------------------------------------------------------------
 */
static bool
val_ipv4(const char *s, int len, int *maxoctet)
{
	int			octets = 0;
	int			i = 0;

	*maxoctet = 0;
	while (octets < 4)
	{
		int			start = i;
		int			v = 0;

		while (i < len && IS_DIGIT(s[i]) && i - start < 3)
			v = v * 10 + (s[i++] - '0');
		if (i == start || v > 255 || (i - start > 1 && s[start] == '0'))
			return false;
		if (v > *maxoctet)
			*maxoctet = v;
		octets++;
		if (octets < 4)
		{
			if (i >= len || s[i] != '.')
				return false;
			i++;
		}
	}
	if (i < len)
	{
		int			prefix;
		int			n = len - i - 1;

		/* a network written as cidr: /0 to /32 */
		if (s[i] != '/' || n < 1 || n > 2 || !val_number(s + i + 1, n, &prefix) ||
			prefix > 32 || (n == 2 && s[i + 1] == '0'))
			return false;
	}
	return true;
}

static bool
val_ipv6(const char *s, int len)
{
	char		buf[64];
	unsigned char addr[16];
	int			colons = 0;
	int			i;
	int			end = len;

	for (i = 0; i < len; i++)
	{
		if (s[i] == ':')
			colons++;
		else if (s[i] == '/')
		{
			int			prefix;
			int			n = len - i - 1;

			if (n < 1 || n > 3 || !val_number(s + i + 1, n, &prefix) || prefix > 128 ||
				(n > 1 && s[i + 1] == '0'))
				return false;
			end = i;
			break;
		}
		else if (!(IS_HEX(s[i]) || s[i] == '.'))
			return false;
	}
	if (colons < 2 || end >= (int) sizeof(buf))
		return false;
	memcpy(buf, s, end);
	buf[end] = '\0';
	return inet_pton(AF_INET6, buf, addr) == 1;
}

static bool
val_ip(const char *s, int len, const ValidatorDate *today)
{
	int			maxoctet;

	if (val_ipv4(s, len, &maxoctet))
		return maxoctet >= 64;
	return val_ipv6(s, len);
}

static bool
val_ip_low(const char *s, int len, const ValidatorDate *today)
{
	int			maxoctet;

	return val_ipv4(s, len, &maxoctet) && maxoctet < 64;
}

/* ------------------------------------------------------------------------
 * MAC addresses: six (or eight, EUI-64) hex pairs separated by ':' or '-',
 * or three groups of four separated by '.'
 * ------------------------------------------------------------------------
 */
static bool
val_mac(const char *s, int len, const ValidatorDate *today)
{
	int			i;

	if (len == 14)
	{
		for (i = 0; i < len; i++)
		{
			if (i == 4 || i == 9)
			{
				if (s[i] != '.')
					return false;
			}
			else if (!IS_HEX(s[i]))
				return false;
		}
		return true;
	}
	if (len == 17 || len == 23)
	{
		char		sep = s[2];

		if (sep != ':' && sep != '-')
			return false;
		for (i = 0; i < len; i++)
		{
			if (i % 3 == 2)
			{
				if (s[i] != sep)
					return false;
			}
			else if (!IS_HEX(s[i]))
				return false;
		}
		return true;
	}
	return false;
}

/* ------------------------------------------------------------------------
 * Bank card numbers: 16 to 19 digits (15 for American Express), an issuer
 * prefix that exists (3, 4, 5, 6 or 9), the Luhn check digit; groups of four
 * separated by spaces or dashes are accepted
 * ------------------------------------------------------------------------
 */
static bool
val_bank_card(const char *s, int len, const ValidatorDate *today)
{
	static const int stops[] = {4, 8, 12, 16};
	char		d[19];
	int			n;
	int			nstops;
	int			sum = 0;
	int			i;
	bool		same = true;

	/* how many separators a grouped number of this length has */
	n = 0;
	for (i = 0; i < len; i++)
		if (IS_DIGIT(s[i]))
			n++;
	/* (and no more than stops lists: a longer run of digits is no card) */
	if (n < 15 || n > 19)
		return false;
	nstops = (n - 1) / 4;
	n = val_grouped_digits(s, len, d, 19, stops, nstops);
	if (n < 15 || n > 19)
		return false;
	if (n == 15 && !(d[0] == '3' && (d[1] == '4' || d[1] == '7')))
		return false;
	if (!(d[0] == '3' || d[0] == '4' || d[0] == '5' || d[0] == '6' || d[0] == '9'))
		return false;
	for (i = 0; i < n; i++)
	{
		int			v = d[n - 1 - i] - '0';

		if (i % 2 == 1)
		{
			v *= 2;
			if (v > 9)
				v -= 9;
		}
		sum += v;
		if (d[i] != d[0])
			same = false;
	}
	return sum % 10 == 0 && !same;
}

/* ------------------------------------------------------------------------
 * Passports of the People's Republic of China: E + 8 digits, E + a letter +
 * 7 digits (from 2014), G + 8 digits (older), DE/SE/PE + 7 digits
 * (diplomatic, service, public affairs)
 * ------------------------------------------------------------------------
 */
static bool
val_passport(const char *s, int len, const ValidatorDate *today)
{
	int			dummy;

	if (len != 9)
		return false;
	if ((s[0] == 'E' || s[0] == 'G') && val_number(s + 1, 8, &dummy))
		return true;
	if (s[0] == 'E' && IS_UPPER(s[1]) && s[1] != 'I' && s[1] != 'O' &&
		val_number(s + 2, 7, &dummy))
		return true;
	if ((s[0] == 'D' || s[0] == 'S' || s[0] == 'P') && s[1] == 'E' &&
		val_number(s + 2, 7, &dummy))
		return true;
	return false;
}

/* ------------------------------------------------------------------------
 * GPS coordinates: decimal degrees with at least four decimals (about 10 m)
 * ------------------------------------------------------------------------
 */

/* parse one coordinate at s[*i]: [-]d{1,3}.d{4,15}; its absolute value */
static bool
val_degrees(const char *s, int len, int *i, double *absval)
{
	int			start;
	double		v = 0;
	double		scale = 1;
	int			decimals = 0;

	if (*i < len && s[*i] == '-')
		(*i)++;
	start = *i;
	while (*i < len && IS_DIGIT(s[*i]) && *i - start < 3)
		v = v * 10 + (s[(*i)++] - '0');
	if (*i == start || *i >= len || s[*i] != '.')
		return false;
	(*i)++;
	while (*i < len && IS_DIGIT(s[*i]) && decimals < 15)
	{
		scale /= 10;
		v += (s[(*i)++] - '0') * scale;
		decimals++;
	}
	if (decimals < 4 || (*i < len && IS_DIGIT(s[*i])))
		return false;
	*absval = v;
	return v <= 180.0;
}

/* a pair "lat,lng" or "lng,lat", optionally in parentheses (type point) */
static bool
val_gps_pair(const char *s, int len, const ValidatorDate *today)
{
	int			i = 0;
	double		a,
				b;

	if (len > 2 && s[0] == '(' && s[len - 1] == ')')
	{
		s++;
		len -= 2;
	}
	if (!val_degrees(s, len, &i, &a))
		return false;
	if (i >= len || s[i] != ',')
		return false;
	i++;
	if (i < len && s[i] == ' ')
		i++;
	if (!val_degrees(s, len, &i, &b) || i != len)
		return false;
	return (a <= 90.0 || b <= 90.0) && (a > 0.0 || b > 0.0);
}

/* one latitude or longitude: counts only with a name such as lat or lng */
static bool
val_coordinate(const char *s, int len, const ValidatorDate *today)
{
	int			i = 0;
	double		v;

	return val_degrees(s, len, &i, &v) && i == len;
}

/* ------------------------------------------------------------------------
 * Dates of birth: a real date in the last 120 years, not in the future,
 * written YYYY-MM-DD, YYYY/MM/DD or YYYYMMDD.  Counts only with a name such
 * as birthday: creation dates look the same.
 * ------------------------------------------------------------------------
 */
static bool
val_birth_date(const char *s, int len, const ValidatorDate *today)
{
	int			y,
				m,
				d;

	if (len == 10 && (s[4] == '-' || s[4] == '/') && s[7] == s[4])
	{
		if (!val_number(s, 4, &y) || !val_number(s + 5, 2, &m) || !val_number(s + 8, 2, &d))
			return false;
	}
	else if (len == 8)
	{
		if (!val_number(s, 4, &y) || !val_number(s + 4, 2, &m) || !val_number(s + 6, 2, &d))
			return false;
	}
	else
		return false;
	return val_date_ok(y, m, d) && y >= today->year - 120 &&
		val_date_cmp(y, m, d, today) <= 0;
}

/* ------------------------------------------------------------------------
 * The table of validators
 * ------------------------------------------------------------------------
 */
/* ------------------------------------------------------------------------
 * IMEI: 15 digits, the last a Luhn check digit, the first two a reporting
 * body of the GSMA (01, 35, 86 or 99, which hold nearly all handsets); 15-digit
 * American Express cards start with 34 or 37, so the two never meet
 * ------------------------------------------------------------------------
 */
static bool
val_imei(const char *s, int len, const ValidatorDate *today)
{
	int			sum = 0;
	int			i;

	if (len != 15)
		return false;
	for (i = 0; i < 15; i++)
		if (!IS_DIGIT(s[i]))
			return false;
	if (!((s[0] == '0' && s[1] == '1') || (s[0] == '3' && s[1] == '5') ||
		  (s[0] == '8' && s[1] == '6') || (s[0] == '9' && s[1] == '9')))
		return false;
	for (i = 0; i < 15; i++)
	{
		int			v = s[14 - i] - '0';

		if (i % 2 == 1)
		{
			v *= 2;
			if (v > 9)
				v -= 9;
		}
		sum += v;
	}
	return sum % 10 == 0;
}

const Validator privacy_validators[] = {
	{"mobile", "contact.phone", false, 0.95, val_mobile,
	"mainland mobile number in an allocated segment, with or without +86, 0086 or 86 and 3-4-4 grouping"},
	{"landline", "contact.phone", false, 0.85, val_landline,
	"mainland landline number with its area code and a separator, optionally an extension"},
	{"id_number", "identity.id_number", false, 0.98, val_id_number,
	"18-character resident ID number: province code, real birth date not in the future, GB 11643 check character"},
	{"email", "contact.email", false, 0.95, val_email,
	"e-mail address: local part, @, a domain of two or more labels ending in letters"},
	{"ip", "device.ip", false, 0.90, val_ip,
	"IPv6 address, or IPv4 address with an octet of 64 or more (optionally a /prefix)"},
	{"ip_low", "device.ip", true, 0.70, val_ip_low,
	"IPv4 address whose octets are all below 64, as version strings are: counts only with a matching column name"},
	{"mac", "device.mac", false, 0.95, val_mac,
	"MAC address: six or eight hex pairs separated by : or -, or three groups of four separated by ."},
	{"bank_card", "financial.bank_account", false, 0.90, val_bank_card,
	"bank card number: 16 to 19 digits (15 for American Express), issuer prefix 3, 4, 5, 6 or 9, Luhn check digit"},
	{"imei", "device.id", false, 0.90, val_imei,
	"IMEI of a handset: 15 digits, reporting body 01, 35, 86 or 99, Luhn check digit"},
	{"passport", "identity.id_document", false, 0.85, val_passport,
	"passport number of the People's Republic of China: E, G, DE, SE or PE followed by digits"},
	{"gps_pair", "location.precise", false, 0.90, val_gps_pair,
	"latitude and longitude in decimal degrees with at least four decimals, in either order"},
	{"coordinate", "location.precise", true, 0.80, val_coordinate,
	"one coordinate in decimal degrees with at least four decimals: counts only with a matching column name"},
	{"birth_date", "identity.birth_date", true, 0.85, val_birth_date,
	"a date in the last 120 years and not in the future: counts only with a matching column name"},
};

const int	privacy_validator_count = lengthof(privacy_validators);

const Validator *
privacy_validator_find(const char *name)
{
	int			i;

	for (i = 0; i < privacy_validator_count; i++)
		if (strcmp(privacy_validators[i].name, name) == 0)
			return &privacy_validators[i];
	return NULL;
}

/* ------------------------------------------------------------------------
 * Personal data inside free text: mobile numbers, resident ID numbers,
 * e-mail addresses and bank cards written somewhere in a longer text ("call
 * me on 138 0013 8000", "身份证110101199003077777").  A candidate is a run of
 * digits (with single spaces or dashes between them, a + before, an X after)
 * or an e-mail address, standing apart from other letters and digits; it
 * counts when the validator of its kind accepts it, the run whole or one of
 * its pieces.  One pass, each byte looked at a bounded number of times.
 * ------------------------------------------------------------------------
 */
#define IS_LOCAL(c) (IS_ALNUM(c) || (c) == '.' || (c) == '_' || (c) == '%' || (c) == '+' || (c) == '-')
#define IS_DOMAIN(c) (IS_ALNUM(c) || (c) == '.' || (c) == '-')

/* which kind accepts s[0..len), or 0 */
static int
val_text_kind(const char *s, int len, const ValidatorDate *today)
{
	if (len == 18 && val_id_number(s, len, today))
		return TEXT_ID_NUMBER;
	if (len <= 20 && val_mobile(s, len, today))
		return TEXT_MOBILE;
	if (len <= 23 && val_bank_card(s, len, today))
		return TEXT_BANK_CARD;
	return 0;
}

int
privacy_text_scan(const char *s, int len, const ValidatorDate *today,
				  TextSpanFn fn, void *arg)
{
	int			found = 0;
	int			i = 0;

	while (i < len)
	{
		char		c = s[i];
		bool		boundary = i == 0 || !IS_ALNUM(s[i - 1]);

		/* an e-mail address: from the start of a run of local-part characters */
		if (IS_LOCAL(c) && c != '.' && (i == 0 || !IS_LOCAL(s[i - 1])))
		{
			int			j = i;

			while (j < len && IS_LOCAL(s[j]) && j - i <= 64)
				j++;
			if (j < len && s[j] == '@')
			{
				int			k = j + 1;

				while (k < len && IS_DOMAIN(s[k]) && k - j <= 255)
					k++;
				/* a sentence's full stop or dash is not the domain's (the run ended
				 * at a character that is no part of a domain, or was too long) */
				while (k > j + 1 && (s[k - 1] == '.' || s[k - 1] == '-'))
					k--;
				if (val_email(s + i, k - i, today))
				{
					found |= TEXT_EMAIL;
					if (fn)
						fn(TEXT_EMAIL, i, k, arg);
					i = k;
					continue;
				}
			}
		}
		/* a run of digits, grouped or not */
		if (boundary && (IS_DIGIT(c) || (c == '+' && i + 1 < len && IS_DIGIT(s[i + 1]))))
		{
			int			j = i + 1;
			int			kind;

			while (j < len)
			{
				if (IS_DIGIT(s[j]))
					j++;
				else if ((s[j] == ' ' || s[j] == '-') && j + 1 < len && IS_DIGIT(s[j + 1]) &&
						 IS_DIGIT(s[j - 1]) && j - i < 40)
					j++;
				else
					break;
			}
			if (j < len && (s[j] == 'X' || s[j] == 'x') && IS_DIGIT(s[j - 1]))
				j++;
			if (j < len && IS_ALNUM(s[j]))
			{
				/* glued to letters or more digits: not a number of its own */
				while (j < len && IS_ALNUM(s[j]))
					j++;
				i = j;
				continue;
			}
			kind = val_text_kind(s + i, j - i, today);
			if (kind != 0)
			{
				found |= kind;
				if (fn)
					fn(kind, i, j, arg);
			}
			else
			{
				/* the pieces between separators, each on its own */
				int			p = i;

				while (p < j)
				{
					int			q = p;

					while (q < j && s[q] != ' ' && s[q] != '-')
						q++;
					kind = val_text_kind(s + p, q - p, today);
					if (kind != 0)
					{
						found |= kind;
						if (fn)
							fn(kind, p, q, arg);
					}
					p = q + 1;
				}
			}
			i = j;
			continue;
		}
		i++;
	}
	return found;
}
