package conditions

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strings"
)

// earthRadius is the mean Earth radius in metres (IUGG R1), for circles.
const earthRadius = 6371008.8

// zone is a compiled Zone.
type zone struct {
	name   string
	circle *Circle
	polys  []polygon
	// bounding box of polys, for a quick reject
	minLon, maxLon, minLat, maxLat float64
}

// polygon is an outer ring and its holes, each ring without the closing
// repetition of its first vertex.
type polygon [][]pt

type pt struct{ lon, lat float64 }

func compileZone(z Zone) (*zone, error) {
	n := 0
	if z.Circle != nil {
		n++
	}
	if z.Polygon != nil {
		n++
	}
	if z.MultiPolygon != nil {
		n++
	}
	if n != 1 {
		return nil, cfgErr("circle", "give exactly one of circle, polygon and multipolygon")
	}
	out := &zone{name: z.Name}
	switch {
	case z.Circle != nil:
		c := *z.Circle
		if err := checkLatLon(c.Lat, c.Lon); err != nil {
			return nil, cfgErr("circle", "%v", err)
		}
		if !(c.RadiusM > 0) || math.IsInf(c.RadiusM, 0) || c.RadiusM > 1e7 {
			return nil, cfgErr("circle.radius_m", "%v: want a radius in metres, more than 0", c.RadiusM)
		}
		out.circle = &c
		return out, nil
	case z.Polygon != nil:
		ring, err := compileRing(z.Polygon)
		if err != nil {
			return nil, cfgErr("polygon"+err.where, "%s", err.msg)
		}
		out.polys = []polygon{{ring}}
	default:
		if len(z.MultiPolygon) == 0 {
			return nil, cfgErr("multipolygon", "no polygons")
		}
		for i, p := range z.MultiPolygon {
			if len(p) == 0 {
				return nil, cfgErr(fmt.Sprintf("multipolygon[%d]", i), "a polygon needs an outer ring")
			}
			var poly polygon
			for j, r := range p {
				ring, err := compileRing(r)
				if err != nil {
					return nil, cfgErr(fmt.Sprintf("multipolygon[%d][%d]%s", i, j, err.where), "%s", err.msg)
				}
				poly = append(poly, ring)
			}
			out.polys = append(out.polys, poly)
		}
	}
	out.minLon, out.minLat = math.Inf(1), math.Inf(1)
	out.maxLon, out.maxLat = math.Inf(-1), math.Inf(-1)
	for _, p := range out.polys {
		for _, v := range p[0] {
			out.minLon, out.maxLon = math.Min(out.minLon, v.lon), math.Max(out.maxLon, v.lon)
			out.minLat, out.maxLat = math.Min(out.minLat, v.lat), math.Max(out.maxLat, v.lat)
		}
	}
	return out, nil
}

type ringError struct{ where, msg string }

// compileRing checks one ring of [lon, lat(, alt…)] positions and drops the
// closing position. It needs at least three distinct vertices.
func compileRing(r [][]float64) ([]pt, *ringError) {
	var ring []pt
	for i, p := range r {
		if len(p) < 2 {
			return nil, &ringError{fmt.Sprintf("[%d]", i), "a position is [longitude, latitude]"}
		}
		if err := checkLatLon(p[1], p[0]); err != nil {
			return nil, &ringError{fmt.Sprintf("[%d]", i), err.Error() + " (positions are [longitude, latitude])"}
		}
		ring = append(ring, pt{lon: p[0], lat: p[1]})
	}
	if len(ring) > 1 && ring[0] == ring[len(ring)-1] {
		ring = ring[:len(ring)-1]
	}
	distinct := map[pt]bool{}
	for _, v := range ring {
		distinct[v] = true
	}
	if len(distinct) < 3 {
		return nil, &ringError{"", "a ring needs at least 3 distinct positions"}
	}
	return ring, nil
}

func checkLatLon(lat, lon float64) error {
	switch {
	case !(lat >= -90 && lat <= 90):
		return fmt.Errorf("latitude %v out of range -90..90", lat)
	case !(lon >= -180 && lon <= 180):
		return fmt.Errorf("longitude %v out of range -180..180", lon)
	}
	return nil
}

// contains reports whether the point is in the zone. Boundaries are inside:
// a point on a circle, or on an outer ring's edge, is in the zone; a point on
// a hole's edge is too.
func (z *zone) contains(lat, lon float64) bool {
	if z.circle != nil {
		return distanceM(lat, lon, z.circle.Lat, z.circle.Lon) <= z.circle.RadiusM
	}
	if lon < z.minLon || lon > z.maxLon || lat < z.minLat || lat > z.maxLat {
		return false
	}
	for _, p := range z.polys {
		in, edge := inRing(p[0], lon, lat)
		if !in && !edge {
			continue
		}
		inHole := false
		for _, h := range p[1:] {
			if hin, hedge := inRing(h, lon, lat); hin && !hedge {
				inHole = true
				break
			}
		}
		if !inHole {
			return true
		}
	}
	return false
}

// inRing is the even-odd ray-casting test in the lon/lat plane; edge reports
// a point exactly on an edge.
func inRing(ring []pt, x, y float64) (inside, edge bool) {
	n := len(ring)
	for i, j := 0, n-1; i < n; j, i = i, i+1 {
		a, b := ring[j], ring[i]
		cross := (b.lon-a.lon)*(y-a.lat) - (b.lat-a.lat)*(x-a.lon)
		if cross == 0 &&
			math.Min(a.lon, b.lon) <= x && x <= math.Max(a.lon, b.lon) &&
			math.Min(a.lat, b.lat) <= y && y <= math.Max(a.lat, b.lat) {
			return false, true
		}
		if (a.lat > y) != (b.lat > y) {
			xi := a.lon + (y-a.lat)*(b.lon-a.lon)/(b.lat-a.lat)
			if x < xi {
				inside = !inside
			}
		}
	}
	return inside, false
}

// distanceM is the haversine great-circle distance in metres.
func distanceM(lat1, lon1, lat2, lon2 float64) float64 {
	const rad = math.Pi / 180
	φ1, φ2 := lat1*rad, lat2*rad
	dφ, dλ := (lat2-lat1)*rad, (lon2-lon1)*rad
	h := math.Sin(dφ/2)*math.Sin(dφ/2) + math.Cos(φ1)*math.Cos(φ2)*math.Sin(dλ/2)*math.Sin(dλ/2)
	return 2 * earthRadius * math.Asin(math.Sqrt(math.Min(1, h)))
}

// GeoJSON, as much of RFC 7946 as zones need.
type geoFeatureCollection struct {
	Type     string            `json:"type"`
	Features []json.RawMessage `json:"features"`
}

type geoFeature struct {
	Type       string          `json:"type"`
	Properties json.RawMessage `json:"properties"`
	Geometry   json.RawMessage `json:"geometry"`
}

type geoGeometry struct {
	Type        string          `json:"type"`
	Coordinates json.RawMessage `json:"coordinates"`
}

// maxGeoJSON bounds the size of a zones file.
const maxGeoJSON = 64 << 20

// ParseGeoJSON reads zones from a GeoJSON FeatureCollection (RFC 7946): one
// zone per feature, named by the feature's "name" property, with a Polygon
// or MultiPolygon geometry. Other geometry types, missing or duplicate names
// and out-of-range coordinates are errors naming the feature
// (features[3].geometry.coordinates[0][5]: …). Rings may be left unclosed;
// altitudes are ignored. It is a pure function of data.
func ParseGeoJSON(data []byte) ([]Zone, error) {
	if len(data) > maxGeoJSON {
		return nil, fmt.Errorf("%d bytes is more than the %d a zones file may have", len(data), maxGeoJSON)
	}
	var fc geoFeatureCollection
	if err := json.Unmarshal(data, &fc); err != nil {
		return nil, fmt.Errorf("not GeoJSON: %w", jsonErr(err))
	}
	if fc.Type != "FeatureCollection" {
		return nil, fmt.Errorf("type: %q: want a FeatureCollection", fc.Type)
	}
	var out []Zone
	seen := map[string]int{}
	for i, raw := range fc.Features {
		key := fmt.Sprintf("features[%d]", i)
		z, err := parseFeature(raw)
		if err != nil {
			return nil, fmt.Errorf("%s%w", key, err)
		}
		if j, dup := seen[z.Name]; dup {
			return nil, fmt.Errorf("%s.properties.name: %q is also the name of features[%d]", key, z.Name, j)
		}
		seen[z.Name] = i
		if _, err := compileZone(z); err != nil {
			var ce *ConfigError
			if errors.As(err, &ce) {
				where := strings.TrimPrefix(ce.Key, "multipolygon")
				return nil, fmt.Errorf("%s.geometry.coordinates%s: %s", key, where, ce.Msg)
			}
			return nil, fmt.Errorf("%s.geometry: %w", key, err)
		}
		out = append(out, z)
	}
	return out, nil
}

// parseFeature returns the zone of one feature. Both geometry types become a
// MultiPolygon (a GeoJSON Polygon may have holes, which Zone.Polygon has not).
func parseFeature(raw json.RawMessage) (Zone, error) {
	var f geoFeature
	if err := json.Unmarshal(raw, &f); err != nil {
		return Zone{}, fmt.Errorf(": not a GeoJSON feature: %w", jsonErr(err))
	}
	if f.Type != "Feature" {
		return Zone{}, fmt.Errorf(".type: %q: want Feature", f.Type)
	}
	var props map[string]any
	if len(f.Properties) > 0 && !bytes.Equal(bytes.TrimSpace(f.Properties), []byte("null")) {
		if err := json.Unmarshal(f.Properties, &props); err != nil {
			return Zone{}, fmt.Errorf(".properties: %w", jsonErr(err))
		}
	}
	name, _ := props["name"].(string)
	if name == "" {
		return Zone{}, errors.New(".properties.name: missing; every zone needs a name")
	}
	if !zoneNameOK(name) {
		return Zone{}, fmt.Errorf(".properties.name: %q: want 1 to 128 printable characters", name)
	}
	if len(f.Geometry) == 0 || bytes.Equal(bytes.TrimSpace(f.Geometry), []byte("null")) {
		return Zone{}, fmt.Errorf(".geometry: zone %q has none", name)
	}
	var g geoGeometry
	if err := json.Unmarshal(f.Geometry, &g); err != nil {
		return Zone{}, fmt.Errorf(".geometry: %w", jsonErr(err))
	}
	z := Zone{Name: name}
	switch g.Type {
	case "Polygon":
		var c [][][]float64
		if err := json.Unmarshal(g.Coordinates, &c); err != nil {
			return Zone{}, fmt.Errorf(".geometry.coordinates: not Polygon coordinates: %w", jsonErr(err))
		}
		if len(c) == 0 {
			return Zone{}, errors.New(".geometry.coordinates: a Polygon needs an outer ring")
		}
		z.MultiPolygon = [][][][]float64{c}
		// Check the rings here, so that errors say coordinates[ring][pos].
		for j, r := range c {
			if _, err := compileRing(r); err != nil {
				return Zone{}, fmt.Errorf(".geometry.coordinates[%d]%s: %s", j, err.where, err.msg)
			}
		}
	case "MultiPolygon":
		var c [][][][]float64
		if err := json.Unmarshal(g.Coordinates, &c); err != nil {
			return Zone{}, fmt.Errorf(".geometry.coordinates: not MultiPolygon coordinates: %w", jsonErr(err))
		}
		z.MultiPolygon = c
	case "":
		return Zone{}, errors.New(".geometry.type: missing")
	default:
		return Zone{}, fmt.Errorf(".geometry.type: %q: a zone must be a Polygon or MultiPolygon", g.Type)
	}
	if z.MultiPolygon == nil {
		z.MultiPolygon = [][][][]float64{}
	}
	return z, nil
}

// jsonErr shortens encoding/json errors for a technician.
func jsonErr(err error) error {
	var se *json.SyntaxError
	if errors.As(err, &se) {
		return fmt.Errorf("%v (at byte %d)", se, se.Offset)
	}
	return err
}
